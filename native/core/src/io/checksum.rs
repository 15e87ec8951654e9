//! Per-object CRC-32C, kept in the extended attribute `user.kvbox.crc32c`
//! so objects stay plain bytes (readable by both connector kinds). Set
//! before the rename; every read of an object that carries one checks it,
//! whatever the tenant's options say at read time.
//!
//! A tenant that has ever stored a checksum carries the marker file
//! `.kvbox-checksums` in its root (made, durably, when it is first opened
//! with checksums on, before any write); a tenant without it has no
//! checksummed object, so its reads skip the attribute lookup altogether.

use crate::{Error, Result};
use rustix::fs::XattrFlags;
use rustix::io::Errno;
use std::os::fd::OwnedFd;

const CRC_XATTR: &str = "user.kvbox.crc32c";
/// In the tenant root: some object may carry a checksum.
const MARKER: &str = ".kvbox-checksums";

/// Whether reads of this tenant must look for checksums: it has stored
/// some (the marker exists) or is about to (`storing`: the marker is made
/// and synced first).
pub fn reads_verify(root: &super::root::TenantRoot, storing: bool) -> Result<bool> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    match rustix::fs::statat(root.fd(), MARKER, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Ok(true),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(Error::os("looking for the checksum marker", e.into())),
    }
    if !storing {
        return Ok(false);
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    drop(
        rustix::fs::openat(root.fd(), MARKER, flags, Mode::from_raw_mode(0o644))
            .map_err(|e| Error::os("making the checksum marker", e.into()))?,
    );
    rustix::fs::fsync(root.fd()).map_err(|e| Error::os("syncing the checksum marker", e.into()))?;
    Ok(true)
}

/// Stores the CRC-32C of `data` with the (temporary) file `fd`.
pub fn store_crc(fd: &OwnedFd, data: &[u8]) -> Result<()> {
    rustix::fs::fsetxattr(fd, CRC_XATTR, &crc32c::crc32c(data).to_le_bytes(), XattrFlags::empty())
        .map_err(|e| Error::os("storing the object's checksum (checksums need user extended attributes)", e.into()))
}

/// Checks `bytes` against the CRC-32C stored with the object, if it has one.
pub fn check_crc(fd: &OwnedFd, path: &str, bytes: &[u8]) -> Result<()> {
    let mut stored = [0u8; 4];
    match rustix::fs::fgetxattr(fd, CRC_XATTR, &mut stored) {
        Ok(4) => {
            let (want, have) = (u32::from_le_bytes(stored), crc32c::crc32c(bytes));
            if want != have {
                return Err(Error::Corrupt(format!(
                    "object {path:?} failed its CRC-32C check (stored {want:08x}, read {have:08x}); its bytes were not returned"
                )));
            }
            Ok(())
        }
        Ok(_) => Err(Error::Corrupt(format!("object {path:?} has a malformed checksum attribute"))),
        Err(Errno::NODATA) | Err(Errno::NOTSUP) => Ok(()),
        Err(e) => Err(Error::os(&format!("reading the checksum of {path:?}"), e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DirOptions, ObjectDir};
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 4096) as u8).collect()
    }

    #[test]
    fn only_tenants_that_stored_checksums_look_for_them() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let plain = ObjectDir::open_with(tmp.path(), &DirOptions::default()).unwrap();
        assert!(!plain.verifies());
        drop(plain);
        let summed = ObjectDir::open_with(tmp.path(), &DirOptions { checksums: true, ..DirOptions::default() }).unwrap();
        assert!(summed.verifies());
        summed.write("x/o", &pattern(10)).unwrap();
        drop(summed);
        let later = ObjectDir::open_with(tmp.path(), &DirOptions::default()).unwrap();
        assert!(later.verifies(), "objects stored with checksums stay verified when reopened without");
        assert_eq!((later.usage().objects, later.usage().bytes), (1, 10), "the marker is not an object");
    }

    #[test]
    fn checksums_catch_a_flipped_bit() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let d = ObjectDir::open_with(tmp.path(), &DirOptions { checksums: true, ..DirOptions::default() }).unwrap();
        let data = pattern(100_000);
        d.write("x/o", &data).unwrap();
        assert_eq!(d.read("x/o", u64::MAX).unwrap().as_deref(), Some(&data[..]));
        let file = tmp.path().join("x/o");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[54_321] ^= 0x10;
        // Rewrite in place (keeps the attribute), as bit rot would.
        std::fs::OpenOptions::new().write(true).open(&file).and_then(|mut f| std::io::Write::write_all(&mut f, &bytes)).unwrap();
        assert!(matches!(d.read("x/o", u64::MAX), Err(Error::Corrupt(_))));
    }
}
