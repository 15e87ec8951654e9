//! Whether, and with which alignment, a tenant's filesystem takes O_DIRECT.

use super::root::TenantRoot;
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// [`dio_alignment`], remembered per filesystem (device number): opening a
/// tenant then costs no probe file.
pub fn dio_alignment_cached(root: &TenantRoot) -> Option<usize> {
    static BY_DEVICE: OnceLock<Mutex<HashMap<u64, Option<usize>>>> = OnceLock::new();
    let Ok(st) = rustix::fs::fstat(root.fd()) else {
        return dio_alignment(root);
    };
    let cache = BY_DEVICE.get_or_init(Mutex::default);
    if let Some(&known) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&st.st_dev) {
        return known;
    }
    let found = dio_alignment(root);
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(st.st_dev, found);
    found
}

/// The direct-I/O alignment `statx` reports for files in the root, raised to
/// 4096 (ext4 serializes sub-block direct I/O); `None` when the filesystem
/// offers no direct I/O. Filesystems report it for regular files only, so a
/// temporary probe file is created and removed.
fn dio_alignment(root: &TenantRoot) -> Option<usize> {
    let probe = super::objects::temp_name();
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(root.fd(), probe.as_str(), flags, Mode::from_raw_mode(0o600)).ok()?;
    let align = match rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) {
        Ok(st) if st.stx_mask & StatxFlags::DIOALIGN.bits() != 0 => {
            let reported = st.stx_dio_mem_align.max(st.stx_dio_offset_align) as usize;
            (reported != 0).then(|| reported.max(4096))
        }
        // Kernels before 6.1 do not report: probe by opening with O_DIRECT.
        _ => rustix::fs::openat(root.fd(), probe.as_str(), OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC, Mode::empty())
            .ok()
            .map(|_| 4096),
    };
    let _ = rustix::fs::unlinkat(root.fd(), probe.as_str(), AtFlags::empty());
    align
}

#[cfg(test)]
mod tests {
    use super::super::ObjectDir;

    #[test]
    fn detects_direct_io_on_a_real_filesystem() {
        // /var/tmp is disk-backed on our machines (tmpfs O_DIRECT proves nothing).
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let d = ObjectDir::open(tmp.path(), true, true).unwrap();
        let align = d.direct_alignment().expect("ext4 under /var/tmp supports O_DIRECT");
        assert!(align >= 4096 && align.is_power_of_two());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the probe file is removed");
        drop(d);
        let buffered = ObjectDir::open(tmp.path(), false, true).unwrap();
        assert_eq!(buffered.direct_alignment(), None);
    }
}
