//! Directories a write needs: the depth rule and the directory quota.
//!
//! A connector chooses its object paths, so without bounds one call could
//! make tens of thousands of nested directories (each an inode, and work
//! for every later open). Every directory the host makes is counted against
//! `DirOptions::max_dirs`, an object path may be at most
//! `DirOptions::max_depth` directories deep, and both are checked before
//! the first directory of a put is made: a refused put leaves nothing.

use super::ObjectDir;
use super::root::{Shown, openat2_beneath};
use crate::{Error, Result};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, OwnedFd};

impl ObjectDir {
    /// Opens directory `rel` (checked, not deeper than allowed), making the
    /// missing part of it once the directory quota has room for all of it.
    /// New directories' parents are recorded for the write's final sync
    /// when durable ([`super::root::TenantRoot::sync_parents`]), so a durable
    /// object never sits in a lost directory.
    pub(super) fn make_dirs(&self, rel: &str) -> Result<std::sync::Arc<OwnedFd>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY;
        let segments: Vec<&str> = rel.split('/').collect();
        // Close-on-exec like every descriptor kvbox holds: this one shares the
        // root's open file description, and with it the tenant's lock.
        let mut cur = rustix::io::fcntl_dupfd_cloexec(self.root().fd(), 0)?;
        let mut have = 0;
        for seg in &segments {
            match openat2_beneath(cur.as_fd(), seg, flags, Mode::empty()) {
                Ok(fd) => cur = fd,
                Err(Errno::NOENT) => break,
                Err(e) => return Err(Error::os(&format!("opening directory {:?}", Shown(rel)), e.into())),
            }
            have += 1;
        }
        let mut reserved = self.accounts.reserve_dirs((segments.len() - have) as u64)?;
        let mut cur = std::sync::Arc::new(cur);
        for seg in &segments[have..] {
            match self.root().make_dir_in(&cur, seg, self.durable) {
                Ok(()) => reserved.made_one(),
                Err(Errno::EXIST) => {} // made by a concurrent put meanwhile
                Err(e) => return Err(Error::os(&format!("creating directory {:?}", Shown(rel)), e.into())),
            }
            cur = std::sync::Arc::new(
                openat2_beneath(cur.as_fd(), seg, flags, Mode::empty())
                    .map_err(|e| Error::os(&format!("opening directory {:?}", Shown(rel)), e.into()))?,
            );
        }
        Ok(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DirOptions, Usage};
    use super::*;

    fn dirs_under(p: &std::path::Path) -> usize {
        walkdir(p).into_iter().filter(|p| p.is_dir()).count()
    }

    fn walkdir(p: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                out.extend(walkdir(&path));
            }
            out.push(path);
        }
        out
    }

    #[test]
    fn creates_nested_directories_and_counts_them() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(tmp.path(), false, true).unwrap();
        d.write("a/b/c/o", b"1").unwrap();
        d.write("a/b/d/o", b"2").unwrap();
        assert!(tmp.path().join("a/b/c").is_dir());
        assert_eq!(d.usage(), Usage { bytes: 2, objects: 2, directories: 4 });
        drop(d);
        assert_eq!(ObjectDir::open(tmp.path(), false, true).unwrap().usage().directories, 4, "measured again at open");
    }

    #[test]
    fn a_put_refused_by_a_quota_leaves_no_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let zero_objects = DirOptions { max_objects: Some(0), ..DirOptions::default() };
        let d = ObjectDir::open_with(tmp.path(), &zero_objects).unwrap();
        assert!(matches!(d.write("a/b/c/d/e/o", b"x"), Err(Error::Quota(_))));
        assert!(matches!(d.write("f/o", b""), Err(Error::Quota(_))));
        drop(d);
        let few_dirs = DirOptions { max_dirs: Some(3), ..DirOptions::default() };
        let d = ObjectDir::open_with(tmp.path(), &few_dirs).unwrap();
        let e = d.write("a/b/c/d/o", b"x").unwrap_err();
        assert!(
            matches!(&e, Error::Quota(m) if m.contains("a put needing 4 new directories would make 4 directories, over the quota of 3 (quota.directories); nothing was written (the tenant holds 0 directories)")),
            "{e}"
        );
        assert_eq!(dirs_under(tmp.path()), 0, "a refused put leaves no directory");
        d.write("a/b/o", b"x").unwrap();
        d.write("a/c/o", b"x").unwrap();
        assert!(matches!(d.write("a/d/o", b"x"), Err(Error::Quota(_))));
        d.write("a/b/p", b"x").expect("existing directories cost nothing");
        assert_eq!(d.usage().directories, 3);
        assert_eq!(d.quota_rejections(), 2);
    }

    #[test]
    fn refuses_paths_deeper_than_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open_with(tmp.path(), &DirOptions { max_depth: 3, ..DirOptions::default() }).unwrap();
        d.write("a/b/c/o", b"x").unwrap();
        assert!(matches!(d.write("a/b/c/d/o", b"x"), Err(Error::InvalidPath(m)) if m.contains("4 directories deep")));
        assert!(!tmp.path().join("a/b/c/d").exists());
    }

    #[test]
    fn concurrent_puts_sharing_new_parents_count_each_directory_once() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open_with(tmp.path(), &DirOptions { durable: false, ..DirOptions::default() }).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let d = &d;
                s.spawn(move || {
                    for i in 0..50 {
                        d.write(&format!("s{}/x/y/{t}-{i}", i % 5), b"1").unwrap();
                    }
                });
            }
        });
        assert_eq!(d.usage().directories, 15);
        assert_eq!(dirs_under(tmp.path()), 15);
    }
}
