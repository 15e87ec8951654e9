//! Paged listing: a depth-first walk in byte order of names that resumes
//! strictly after a given path, so pages are stable while objects are added
//! or removed elsewhere in the tree.

use super::ObjectDir;
use super::root::{RESERVED_PREFIX, check_path};
use crate::{Error, Result};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use std::os::fd::OwnedFd;

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
        let Some(dir) = self.root().dir(prefix, false, false)? else {
            return Ok(Listing::default());
        };
        let mut walk = Walk { out: Vec::new(), want: limit.max(1) as usize + 1 };
        walk.dir(dir, prefix.to_string(), &after_rel)?;
        let more = walk.out.len() == walk.want;
        walk.out.truncate(limit.max(1) as usize);
        Ok(Listing { paths: walk.out, more })
    }
}

struct Walk {
    out: Vec<String>,
    /// One more than the page size, to learn whether more follow.
    want: usize,
}

impl Walk {
    fn dir(&mut self, fd: OwnedFd, at: String, after: &[&str]) -> Result<()> {
        let mut entries: Vec<(String, FileType)> = Vec::new();
        for entry in Dir::read_from(&fd).map_err(|e| Error::os("listing", e.into()))? {
            let entry = entry.map_err(|e| Error::os("listing", e.into()))?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            }; // not UTF-8: not ours
            if name == "." || name == ".." || name.starts_with(RESERVED_PREFIX) {
                continue;
            }
            if let Some(first) = after.first()
                && name < *first
            {
                continue;
            }
            let mut kind = entry.file_type();
            if kind == FileType::Unknown {
                kind = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode))
                    .unwrap_or(FileType::Unknown);
            }
            entries.push((name.to_string(), kind));
        }
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (name, kind) in entries {
            if self.out.len() == self.want {
                return Ok(());
            }
            let path = if at.is_empty() { name.clone() } else { format!("{at}/{name}") };
            let resume: &[&str] = match after.split_first() {
                Some((first, rest)) if *first == name => rest,
                _ => &[],
            };
            let is_cursor = after.first() == Some(&name.as_str()) && resume.is_empty();
            match kind {
                FileType::RegularFile if !is_cursor => self.out.push(path),
                FileType::Directory if !is_cursor || !resume.is_empty() => {
                    let sub = rustix::fs::openat2(
                        &fd,
                        name.as_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                        Mode::empty(),
                        rustix::fs::ResolveFlags::BENEATH | rustix::fs::ResolveFlags::NO_SYMLINKS,
                    );
                    match sub {
                        Ok(sub) => self.dir(sub, path, resume)?,
                        Err(rustix::io::Errno::NOENT) => {} // removed while we walked
                        Err(e) => return Err(Error::os("listing", e.into())),
                    }
                }
                _ => {} // symbolic links, devices, the cursor itself: never listed
            }
        }
        Ok(())
    }
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
}
