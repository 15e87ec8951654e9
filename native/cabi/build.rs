//! Gives libkvbox_connector.so its SONAME, so a program linked with
//! `-lkvbox_connector` records the library's name rather than a path.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkvbox_connector.so");
}
