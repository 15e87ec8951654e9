//! Per-object CRC-32C, kept in the extended attribute `user.kvbox.crc32c`
//! so objects stay plain bytes (readable by both connector kinds). Set
//! before the rename; every read of an object that carries one checks it,
//! whatever the tenant's options say at read time.

use crate::{Error, Result};
use rustix::fs::XattrFlags;
use rustix::io::Errno;
use std::os::fd::OwnedFd;

const CRC_XATTR: &str = "user.kvbox.crc32c";

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
