//! Hostile connectors, for kvbox's adversarial tests. Each Cargo feature
//! builds a component with one attack (`guests/dist/hostile-<feature>.wasm`):
//!
//! | feature     | attack                                                       |
//! |-------------|--------------------------------------------------------------|
//! | `loop`      | `put("attack")` spins forever                                |
//! | `memory`    | `put("attack")` allocates until memory runs out              |
//! | `recursion` | `put("attack")` recurses without end                         |
//! | `panic`     | `put("attack")` panics; so does `open` when its config says  |
//! |             | `panic_in_open`                                              |
//! | `handles`   | `put("attack")` creates payload handles without dropping any |
//! | `huge-page` | `list-keys` returns far more keys than asked                 |
//! | `paths`     | every call hands the key to host I/O as a raw object path    |
//! |             | (`%00` becomes NUL), so tests can try `..`, `/etc`, links    |
//! | `wasi`      | `put("attack")` tries WASI files, environment and sockets    |
//! | `stash`     | `get` keeps each payload the host hands it and returns the   |
//! |             | one kept by the previous call (a use-after-call attempt)     |
//! | `big-write` | `put("attack")` writes a 32 MiB payload again and again,     |
//! |             | so the call's time goes to host I/O, not guest code          |
//! | `spin`      | every call first spins for the `spin_ms` of its config       |
//! | `listing`   | `list-keys` breaks the listing contract as its config says:  |
//! |             | `stuck` (empty page, same cursor forever), `empty`, `nul`,   |
//! |             | `long` (a 100 000-byte key) or `dup` (one key twice)         |
//! | `dir-bomb`  | `put("attack")` writes 20 objects each 1 990 directories     |
//! |             | deep (~40 000 directories in one call), then reports         |
//! |             | the first refusal                                            |
//! | `residue`   | `put("plant", secret)` leaves the secret in its memory (a    |
//! |             | static buffer and a leaked heap copy); `get("scan-<hex>")`   |
//! |             | searches all of its linear memory for those bytes, to show   |
//! |             | what an instance can find of an earlier tenant's             |
//!
//! Any other key is served honestly (one object per key, hex-named), so a
//! test can show the connector stays usable after each attack.
//!
//! Written on the connector SDK (`kvbox-connector`): every attack here is
//! something an SDK author can write. The fixtures that break the contract's
//! types or versions keep raw bindings (`hostile-contract`, `hostile-wrong-world`).

use kvbox_connector::{Connector, Error, KeyPage, Payload, export_connector, objects};

const TRIGGER: &str = "attack";

struct Hostile {
    /// From the config `{"port": N}`: where the `wasi` attack tries to
    /// connect; for `spin`, the milliseconds to spin.
    #[allow(dead_code)]
    port: u16,
    /// The whole config text (the `listing` mode).
    #[allow(dead_code)]
    config: String,
    /// The `stash` attack's payload from the previous call.
    #[allow(dead_code)]
    stash: core::cell::RefCell<Option<Payload>>,
}

fn hex_path(key: &str) -> String {
    let mut p = String::from("o/");
    for b in key.bytes() {
        p.push_str(&format!("{b:02x}"));
    }
    p
}

fn unhex(path: &str) -> Option<String> {
    let h = path.strip_prefix("o/")?;
    let bytes: Option<Vec<u8>> = (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// The object path a call uses: the raw key for the `paths` attack.
fn path_of(key: &str) -> String {
    if cfg!(feature = "paths") { key.replace("%00", "\0") } else { hex_path(key) }
}

impl Hostile {
    /// The `spin` attack: burn `port` milliseconds of CPU on every call.
    fn spin(&self) {
        if cfg!(feature = "spin") {
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(self.port.into()) {
                core::hint::black_box(());
            }
        }
    }

    fn attack(&self) -> Result<(), Error> {
        #[cfg(feature = "loop")]
        loop {
            core::hint::black_box(());
        }
        #[cfg(feature = "memory")]
        {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![0xA5; 1 << 20]);
                core::hint::black_box(&hoard);
            }
        }
        #[cfg(feature = "recursion")]
        {
            #[allow(unconditional_recursion)]
            fn dive(n: u64) -> u64 {
                let frame = core::hint::black_box([n; 32]);
                dive(n + 1).wrapping_add(frame[7])
            }
            return Err(Error::Other(format!("recursion ended at {}", dive(0))));
        }
        #[cfg(feature = "panic")]
        panic!("hostile connector panics on purpose");
        #[cfg(feature = "handles")]
        {
            let mut held = Vec::new();
            loop {
                match Payload::create(1) {
                    Ok(p) => held.push(p),
                    Err(e) => return Err(Error::Other(format!("payload.create refused after {} handles: {e:?}", held.len()))),
                }
            }
        }
        #[cfg(feature = "wasi")]
        return Err(Error::Other(wasi_attack::run(self.port)));
        #[cfg(feature = "big-write")]
        {
            let big = Payload::create(32 << 20)?;
            for i in 0u64.. {
                objects::write(&format!("o/big-{}", i % 2), &big)?;
            }
        }
        #[allow(unreachable_code)]
        Ok(())
    }
}

impl Connector for Hostile {
    fn open(config: &str) -> Result<Self, Error> {
        if cfg!(feature = "panic") && config.contains("panic_in_open") {
            panic!("hostile connector panics in open on purpose");
        }
        let port = config.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty()).and_then(|s| s.parse().ok()).unwrap_or(9);
        Ok(Self { port, config: config.to_string(), stash: Default::default() })
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.spin();
        Ok(objects::stat(&path_of(key))?.is_some())
    }

    fn put(&self, key: &str, data: &Payload) -> Result<(), Error> {
        self.spin();
        #[cfg(feature = "dir-bomb")]
        if key == TRIGGER {
            return dir_bomb::run(data);
        }
        #[cfg(feature = "residue")]
        if key == "plant" {
            return residue::plant(data);
        }
        if key == TRIGGER {
            self.attack()?;
        }
        objects::write(&path_of(key), data)
    }

    fn get(&self, key: &str) -> Result<Option<Payload>, Error> {
        self.spin();
        #[cfg(feature = "residue")]
        if let Some(hex) = key.strip_prefix("scan-") {
            return residue::scan(hex);
        }
        if cfg!(feature = "stash") {
            let fresh = objects::read(&path_of(key))?;
            let previous = self.stash.replace(fresh);
            // Return a copy of what the previous call's payload holds now.
            return Ok(match previous {
                Some(p) => {
                    let copy = Payload::create(p.len())?;
                    copy.write_at(0, &p.read_at(0, p.len() as u32)?)?;
                    Some(copy)
                }
                None => None,
            });
        }
        objects::read(&path_of(key))
    }

    fn remove(&self, key: &str) -> Result<bool, Error> {
        objects::remove(&path_of(key))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, Error> {
        objects::stat(&path_of(key))
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32) -> Result<KeyPage, Error> {
        if cfg!(feature = "huge-page") {
            let keys = (0..200_000u32).map(|i| format!("key-{i}")).collect();
            return Ok(KeyPage { keys, cursor: None });
        }
        if cfg!(feature = "paths") {
            objects::list("..", None, limit)?;
        }
        if cfg!(feature = "listing") {
            let page = |keys: &[&str], cursor: Option<&str>| KeyPage {
                keys: keys.iter().map(|k| k.to_string()).collect(),
                cursor: cursor.map(Into::into),
            };
            let c = &self.config;
            if c.contains("stuck") {
                return Ok(page(&[], Some(cursor.unwrap_or("again"))));
            }
            if c.contains("cycle") {
                let next = if cursor == Some("a") { "b" } else { "a" };
                return Ok(page(&["k"], Some(next)));
            }
            let long = "k".repeat(100_000);
            let keys: &[&str] = if c.contains("empty") {
                &["ok", ""]
            } else if c.contains("nul") {
                &["ok", "a\0b"]
            } else if c.contains("long") {
                &["ok", &long]
            } else {
                &["ok", "ok"]
            };
            return Ok(page(keys, None));
        }
        let listing = objects::list("o", cursor, limit)?;
        let keys = listing.paths.iter().filter_map(|p| unhex(p)).collect();
        let cursor = if listing.more { listing.paths.last().cloned() } else { None };
        Ok(KeyPage { keys, cursor })
    }
}

/// Tries every WASI capability a connector could abuse and reports what it
/// got. Anything that works is reported as `LEAK`; the host must deny all.
#[cfg(feature = "wasi")]
mod wasi_attack {
    use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket, udp_create_socket};

    pub fn run(port: u16) -> String {
        let mut report = Vec::new();
        let preopens = wasip2::filesystem::preopens::get_directories();
        report.push(format!("preopens={}", preopens.len()));
        for (_, name) in &preopens {
            report.push(format!("LEAK: preopened {name}"));
        }
        let env = wasip2::cli::environment::get_environment();
        report.push(format!("env={}", env.len()));
        if !env.is_empty() {
            report.push("LEAK: environment".into());
        }
        report.push(format!("args={}", wasip2::cli::environment::get_arguments().len()));
        let net = instance_network::instance_network();
        let target = IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address: (127, 0, 0, 1) });
        match tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
            Err(e) => report.push(format!("tcp-create={e:?}")),
            Ok(sock) => match sock.start_connect(&net, target) {
                Err(e) => report.push(format!("tcp-connect={e:?}")),
                Ok(()) => {
                    sock.subscribe().block();
                    match sock.finish_connect() {
                        Err(e) => report.push(format!("tcp-connect={e:?}")),
                        Ok(_) => report.push("LEAK: tcp connected".into()),
                    }
                }
            },
        }
        match udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4) {
            Err(e) => report.push(format!("udp-create={e:?}")),
            Ok(sock) => match sock.start_bind(&net, IpSocketAddress::Ipv4(Ipv4SocketAddress { port: 0, address: (0, 0, 0, 0) })) {
                Err(e) => report.push(format!("udp-bind={e:?}")),
                Ok(()) => match sock.finish_bind() {
                    Err(e) => report.push(format!("udp-bind={e:?}")),
                    Ok(()) => report.push("LEAK: udp bound".into()),
                },
            },
        }
        match ip_name_lookup::resolve_addresses(&net, "localhost") {
            Err(e) => report.push(format!("dns={e:?}")),
            Ok(stream) => {
                stream.subscribe().block();
                match stream.resolve_next_address() {
                    Ok(Some(_)) => report.push("LEAK: name resolved".into()),
                    other => report.push(format!("dns={other:?}")),
                }
            }
        }
        format!("wasi attack: {}", report.join(" "))
    }
}

export_connector!(Hostile);

/// Issue 16's directory bomb: nested directories made through ordinary
/// writes, every write tried whatever the previous one got.
#[cfg(feature = "dir-bomb")]
mod dir_bomb {
    use super::{Error, Payload, objects};

    pub fn run(data: &Payload) -> Result<(), Error> {
        let mut first = None;
        for chain in 0..20 {
            let path = format!("b{chain:02}/{}o", "d/".repeat(1_990));
            if let Err(e) = objects::write(&path, data) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// The `residue` fixture: plants a secret in linear memory, and searches all
/// of linear memory for one.
#[cfg(feature = "residue")]
mod residue {
    use super::{Error, Payload};

    /// Where `plant` copies the secret (besides a leaked heap copy).
    static mut PLANTED: [u8; 4096] = [0; 4096];

    pub fn plant(data: &Payload) -> Result<(), Error> {
        let bytes = data.read_at(0, data.len() as u32)?;
        let n = bytes.len().min(4096);
        // SAFETY: one instance runs one call at a time; nothing else touches it.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), core::ptr::addr_of_mut!(PLANTED).cast::<u8>(), n) };
        core::mem::forget(bytes);
        Ok(())
    }

    /// Searches every byte of linear memory for the bytes `hex` spells. The
    /// needle is kept inverted, so it cannot find itself. Found: a payload
    /// with the address (u32, little-endian); not found: `None`.
    pub fn scan(hex: &str) -> Result<Option<Payload>, Error> {
        let inverted: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).map(|b| !b))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Other("scan-<hex>: not hex".into()))?;
        if inverted.is_empty() {
            return Err(Error::Other("scan-<hex>: empty".into()));
        }
        let end = core::arch::wasm32::memory_size(0) * 65536;
        'at: for at in 1..end.saturating_sub(inverted.len()) {
            for (j, &want) in inverted.iter().enumerate() {
                // SAFETY: every address below memory.size is readable in wasm.
                if !unsafe { core::ptr::read_volatile((at + j) as *const u8) } != want {
                    continue 'at;
                }
            }
            let found = Payload::create(4)?;
            found.write_at(0, &(at as u32).to_le_bytes())?;
            return Ok(Some(found));
        }
        Ok(None)
    }
}
