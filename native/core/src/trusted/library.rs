//! Loading a C-ABI connector library the caller vouched for: opened once,
//! checked on that descriptor (owner, permissions, sha256), and loaded from
//! the same descriptor, so the bytes checked are the bytes mapped.

use crate::{Error, Result};
use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};
use std::ffi::{c_char, c_void};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// A connector handle, as the C ABI hands it out.
pub type Handle = *mut c_void;

/// The 8 functions of the connector C ABI.
#[derive(Clone, Copy)]
pub struct Abi {
    /// `connector_create(config_json, len) -> handle | NULL`.
    pub create: unsafe extern "C" fn(*const c_char, usize) -> Handle,
    /// `connector_destroy(handle)`.
    pub destroy: unsafe extern "C" fn(Handle),
    /// `connector_exists(handle, key) -> 1 | 0`.
    pub exists: unsafe extern "C" fn(Handle, *const c_char) -> i32,
    /// `connector_put(handle, key, data, len) -> 0 | error`.
    pub put: unsafe extern "C" fn(Handle, *const c_char, *const u8, usize) -> i32,
    /// `connector_get(handle, key, out, cap, *out_len) -> 0 | 1 | -1`.
    pub get: unsafe extern "C" fn(Handle, *const c_char, *mut u8, usize, *mut usize) -> i32,
    /// `connector_remove(handle, key) -> 1 | 0 | -1`.
    pub remove: unsafe extern "C" fn(Handle, *const c_char) -> i32,
    /// `connector_file_size(handle, key, *size) -> 0 | 1 | -1`.
    pub file_size: unsafe extern "C" fn(Handle, *const c_char, *mut u64) -> i32,
    /// `connector_list_keys(handle, out, cap, *out_len) -> 0 | -1`.
    pub list_keys: unsafe extern "C" fn(Handle, *mut c_char, usize, *mut usize) -> i32,
}

/// A loaded C-ABI connector library.
///
/// Invariants:
/// - the library was mapped from `_fd`, whose bytes hashed to `sha256`;
/// - `_fd` stays open while the library is loaded, and the name it was
///   loaded under is never used again ([`unique_fd_path`]), so the loader
///   cannot mistake another library for this one.
pub struct TrustedLibrary {
    /// The symbols resolved from `library`.
    pub abi: Abi,
    /// sha256 of the file, hex.
    pub sha256: String,
    // Field order: the library is unloaded before its descriptor closes.
    _library: Library,
    _fd: OwnedFd,
}

impl TrustedLibrary {
    /// Opens `path`, refusing it unless its sha256 is `sha256` and neither it
    /// nor its directory can be changed by anyone but its owner (this user or
    /// root), then loads it from that same descriptor.
    pub fn open(path: &Path, sha256: &str) -> Result<Self> {
        let shown = path.display();
        let refuse = |why: String| Error::Load(format!("refusing native connector {shown}: {why}"));
        let want = sha256.to_ascii_lowercase();
        if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidArgument(format!("sha256 must be 64 hex digits, got {sha256:?}")));
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().ok_or_else(|| refuse("the path names no file".into()))?;
        let dir_fd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| refuse(format!("cannot open its directory: {e}")))?;
        owned_by_us_and_not_shared(&dir_fd, true).map_err(|why| refuse(format!("its directory {why}")))?;
        let fd = rustix::fs::openat(&dir_fd, name, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|e| refuse(format!("cannot open it (symbolic links are not followed): {e}")))?;
        owned_by_us_and_not_shared(&fd, false).map_err(|why| refuse(format!("the file {why}")))?;
        let actual = hash(&fd).map_err(|e| refuse(format!("cannot read it: {e}")))?;
        if actual != want {
            return Err(refuse(format!("its sha256 is {actual}, not the expected {want}")));
        }
        // The loader opens the magic link, which is the descriptor's own file.
        let proc_path = unique_fd_path(fd.as_raw_fd());
        // SAFETY: running the library's initialisers is the point: the caller
        // opted into this code by path and hash (documented as trusted, in-process).
        let library =
            unsafe { Library::open(Some(&proc_path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| refuse(format!("dlopen failed: {e}")))?;
        let abi = resolve(&library).map_err(refuse)?;
        Ok(Self { abi, sha256: actual, _library: library, _fd: fd })
    }
}

/// `/proc/self/fd/<fd>`, spelt differently on every call (`./` and `.//`
/// segments encoding a counter). The dynamic loader matches a path against
/// every name an already-loaded object was ever opened under, and descriptor
/// numbers are reused: with one spelling, a later load could be handed an
/// earlier library whose load used the same number.
fn unique_fd_path(fd: i32) -> String {
    static LOADS: AtomicU64 = AtomicU64::new(0);
    let mut n = LOADS.fetch_add(1, Ordering::Relaxed);
    let mut path = String::from("/proc/self/fd/");
    while n > 0 {
        path.push_str(if n & 1 == 1 { ".//" } else { "./" });
        n >>= 1;
    }
    path.push_str(&fd.to_string());
    path
}

/// Checks a descriptor's owner and mode: owned by this user or root, not
/// writable by group or others (a directory with the sticky bit is still refused:
/// another user could not replace our file, but could plant a look-alike).
fn owned_by_us_and_not_shared(fd: &OwnedFd, directory: bool) -> std::result::Result<(), String> {
    let st = rustix::fs::fstat(fd).map_err(|e| format!("cannot be examined: {e}"))?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if directory != (kind == rustix::fs::FileType::Directory) || (!directory && kind != rustix::fs::FileType::RegularFile) {
        return Err(format!("is not a {}", if directory { "directory" } else { "regular file" }));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if st.st_uid != me && st.st_uid != 0 {
        return Err(format!("is owned by uid {}, neither this user ({me}) nor root", st.st_uid));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(format!("is writable by group or others (mode {:o})", st.st_mode & 0o7777));
    }
    Ok(())
}

fn hash(fd: &OwnedFd) -> std::io::Result<String> {
    let mut file = std::fs::File::from(fd.try_clone()?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hex::encode(hasher.finalize())),
            n => hasher.update(&buf[..n]),
        }
    }
}

fn resolve(library: &Library) -> std::result::Result<Abi, String> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol's type is the C ABI's signature for this name
            // (the library claims to implement it; the caller trusts it to).
            *unsafe { library.get($name) }
                .map_err(|e| format!("it does not export {}: {e}", String::from_utf8_lossy(&$name[..$name.len() - 1])))?
        };
    }
    Ok(Abi {
        create: sym!(b"connector_create\0"),
        destroy: sym!(b"connector_destroy\0"),
        exists: sym!(b"connector_exists\0"),
        put: sym!(b"connector_put\0"),
        get: sym!(b"connector_get\0"),
        remove: sym!(b"connector_remove\0"),
        file_size: sym!(b"connector_file_size\0"),
        list_keys: sym!(b"connector_list_keys\0"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_never_spelt_twice_and_all_name_the_descriptor() {
        use std::os::unix::fs::MetadataExt;
        let file = tempfile::tempfile().unwrap();
        let ino = file.metadata().unwrap().ino();
        let paths: std::collections::HashSet<String> = (0..300).map(|_| unique_fd_path(file.as_raw_fd())).collect();
        assert_eq!(paths.len(), 300);
        for p in &paths {
            assert_eq!(std::fs::metadata(p).unwrap().ino(), ino, "{p}");
        }
    }
}
