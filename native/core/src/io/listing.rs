//! Paged listing: a depth-first walk in byte order of names that resumes
//! strictly after a given path, so pages are stable while objects are added
//! or removed elsewhere in the tree. The walk ([`super::walk`]) holds at
//! most `walk::MAX_HELD` descriptors however deep the tree.

use super::ObjectDir;
use super::root::{RESERVED_PREFIX, check_path};
use super::walk::{Entry, Walk};
use crate::{Error, Result};
use rustix::fs::{AtFlags, FileType};
use std::os::fd::BorrowedFd;

/// One page of object paths.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// Full paths from the root.
    pub paths: Vec<String>,
    /// Whether more follow.
    pub more: bool,
}

impl ObjectDir {
    /// Up to `limit` object paths beneath `prefix`, strictly after `after`.
    pub fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Listing> {
        self.list_walk(prefix, after, limit).map(|(listing, _)| listing)
    }

    /// [`Self::list`], and the most descriptors the walk held at once.
    fn list_walk(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<(Listing, usize)> {
        check_path(prefix, true)?;
        let after_rel: Vec<&str> = match after {
            None => Vec::new(),
            Some(a) => {
                check_path(a, false)?;
                let rel = if prefix.is_empty() { Some(a) } else { a.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) };
                let rel = rel.ok_or_else(|| Error::InvalidPath(format!("listing cursor {a:?} is not beneath {prefix:?}")))?;
                rel.split('/').collect()
            }
        };
        let Some(mut walk) = Walk::new(self.root(), prefix, &after_rel, read_entry)? else {
            return Ok((Listing::default(), 0));
        };
        // One more than the page, to learn whether more follow.
        let want = limit.max(1) as usize + 1;
        let mut paths = Vec::new();
        walk.run(|path, entry| {
            if entry.kind == FileType::RegularFile {
                paths.push(path.to_string());
            }
            Ok(paths.len() < want)
        })?;
        let more = paths.len() == want;
        paths.truncate(want - 1);
        Ok((Listing { paths, more }, walk.peak_descriptors()))
    }
}

/// Keeps regular files and directories outside the host's reserved names;
/// symbolic links, devices and the like are never listed.
fn read_entry(dir: BorrowedFd<'_>, name: &str, mut kind: FileType) -> Option<Entry> {
    if name.starts_with(RESERVED_PREFIX) {
        return None;
    }
    if kind == FileType::Unknown {
        kind = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|st| FileType::from_raw_mode(st.st_mode)).ok()?;
    }
    matches!(kind, FileType::RegularFile | FileType::Directory).then(|| Entry { name: name.to_string(), kind, size: 0, marked: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(d: &ObjectDir, prefix: &str, limit: u32) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = d.list(prefix, after.as_deref(), limit).unwrap();
            after = page.paths.last().cloned();
            let more = page.more;
            all.push(page.paths);
            if !more {
                return all;
            }
        }
    }

    #[test]
    fn pages_cover_every_object_once_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(tmp.path(), false, false).unwrap();
        let mut expected = Vec::new();
        for a in ["00", "0a", "ff"] {
            for b in ["x", "y/z", "y/zz/w", "yy"] {
                let p = format!("{a}/{b}");
                d.write(&p, b"1").unwrap();
                expected.push(p);
            }
        }
        expected.sort();
        for limit in [1, 2, 3, 5, 100] {
            let got: Vec<String> = pages(&d, "", limit).into_iter().flatten().collect();
            assert_eq!(got, expected, "limit {limit}");
        }
        let under: Vec<String> = pages(&d, "0a", 2).into_iter().flatten().collect();
        assert_eq!(under, expected.iter().filter(|p| p.starts_with("0a/")).cloned().collect::<Vec<_>>());
        assert_eq!(d.list("nope", None, 10).unwrap(), Listing::default());
    }

    #[test]
    fn directories_larger_than_one_read_are_scanned_and_listed_whole() {
        // 3 000 names of 24 bytes: about 130 KiB of `getdents64` records, four
        // fills of the walk's buffer, in one directory and beside a subdirectory.
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("big/sub")).unwrap();
        let mut expected: Vec<String> = (0..3_000).map(|i| format!("big/object-{i:017}")).collect();
        for p in &expected {
            std::fs::write(tmp.path().join(p), b"12").unwrap();
        }
        std::fs::write(tmp.path().join("big/sub/last"), b"1").unwrap();
        expected.push("big/sub/last".into());
        expected.sort();
        let d = ObjectDir::open(tmp.path(), false, false).unwrap();
        assert_eq!((d.usage().objects, d.usage().bytes, d.usage().directories), (3_001, 6_001, 2));
        for limit in [7, 1_000, 5_000] {
            let got: Vec<String> = pages(&d, "", limit).into_iter().flatten().collect();
            assert_eq!(got, expected, "limit {limit}");
        }
    }

    #[test]
    fn skips_temporaries_and_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(tmp.path(), false, false).unwrap();
        d.write("a/real", b"1").unwrap();
        std::fs::write(tmp.path().join("a/.kvbox-tmp-1-2-3"), b"partial").unwrap();
        std::os::unix::fs::symlink("/etc", tmp.path().join("a/link")).unwrap();
        assert_eq!(d.list("", None, 10).unwrap().paths, vec!["a/real".to_string()]);
    }

    #[test]
    fn rejects_cursors_outside_the_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(tmp.path(), false, false).unwrap();
        assert!(matches!(d.list("a", Some("b/x"), 10), Err(Error::InvalidPath(_))));
        assert!(matches!(d.list("../up", None, 10), Err(Error::InvalidPath(_))));
    }

    #[test]
    fn a_deep_chain_is_listed_with_bounded_descriptors() {
        let tmp = tempfile::tempdir().unwrap();
        let chain = "d/".repeat(1_000);
        let (near, side) = ("d/".repeat(10), format!("{}f", "d/".repeat(10)));
        std::fs::create_dir_all(tmp.path().join(&chain)).unwrap();
        std::fs::create_dir_all(tmp.path().join(&side)).unwrap();
        for p in [format!("{chain}o"), format!("{near}e"), format!("{side}/g")] {
            std::fs::write(tmp.path().join(p), b"1").unwrap();
        }
        let d = ObjectDir::open(tmp.path(), false, false).unwrap();
        assert_eq!(d.usage().directories, 1_001);
        let all = vec![format!("{chain}o"), format!("{near}e"), format!("{side}/g")];
        let (page, peak) = d.list_walk("", None, 10).unwrap();
        assert_eq!(page.paths, all);
        assert!(peak <= super::super::walk::MAX_HELD, "held {peak} descriptors at once");
        // Resuming after the deep object re-opens the ancestors it needs by path.
        let (rest, peak) = d.list_walk("", Some(&all[0]), 1).unwrap();
        assert_eq!(rest, Listing { paths: vec![all[1].clone()], more: true });
        assert!(peak <= super::super::walk::MAX_HELD, "held {peak} descriptors at once");
        assert_eq!(pages(&d, "", 1).concat(), all);
    }
}
