//! A depth-first walk of the tenant's tree, in byte order of names, that
//! holds a bounded number of directory descriptors however deep the tree is,
//! and can resume strictly after a given path. Shared by the open-time scan
//! ([`super::usage`]) and paged listings ([`super::listing`]).
//!
//! Each directory is read whole when entered (its entries kept, sorted) and
//! its descriptor is kept only while it may be needed to open a
//! subdirectory, for at most [`MAX_HELD`] directories at once: past that the
//! shallowest held one is closed, and re-opened by path beneath the root
//! should another subdirectory of it be entered. Trees written by kvbox are
//! at most `DirOptions::max_depth` deep (below [`MAX_HELD`] by default), so
//! they are walked without re-opening: time linear in the entries, one
//! `openat2` per directory. A deeper tree (made behind kvbox's back) costs
//! at most one resolution of depth *d* per re-opened directory at depth *d*.
//! Entries are read with `getdents64` straight from the descriptor the walk
//! holds, into one buffer per walk ([`READ_BUFFER`]), with no second
//! descriptor per directory.

use super::root::{Shown, TenantRoot, openat2_beneath};
use crate::{Error, Result};
use rustix::fs::{FileType, Mode, OFlags, RawDir};
use rustix::io::Errno;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Most directory descriptors a walk keeps open at once (plus one
/// transient descriptor while a directory is read).
pub const MAX_HELD: usize = 48;

/// Bytes of directory entries read per `getdents64` (≈ 700 names of 20 bytes).
const READ_BUFFER: usize = 32 << 10;

/// One directory entry, as the caller's reader kept it.
#[derive(Debug)]
pub struct Entry {
    /// The entry's name (valid UTF-8: other names are never object paths).
    pub name: String,
    /// What it is; directories are entered after they are visited.
    pub kind: FileType,
    /// What the reader wants to remember (a size, for the scan).
    pub size: u64,
    /// A mark the reader sets (the scan: a suspect object).
    pub marked: bool,
}

/// A directory being walked.
struct Level {
    /// Its path relative to the root (`""` for the root).
    path: String,
    /// Held while it may still be needed; `None` once closed.
    fd: Option<OwnedFd>,
    /// Entries not yet visited, sorted in descending order (popped from the end).
    rest: Vec<Entry>,
    /// Index into the cursor of the name this level resumes after, if it lies on the cursor's path.
    cursor: Option<usize>,
}

/// A walk from one directory; see the module docs.
pub struct Walk<'a, R> {
    root: &'a TenantRoot,
    /// Path segments (relative to the start) to resume strictly after.
    after: &'a [&'a str],
    /// Turns a raw entry into a kept one, or drops it.
    read: R,
    levels: Vec<Level>,
    /// Descriptors held: always those of the deepest `held` levels.
    held: usize,
    /// Most descriptors held at once so far.
    peak: usize,
    /// Where `getdents64` writes (not initialised: the kernel fills what it reports).
    buf: Vec<MaybeUninit<u8>>,
}

impl<'a, R> Walk<'a, R>
where
    R: FnMut(BorrowedFd<'_>, &str, FileType) -> Option<Entry>,
{
    /// A walk of directory `start` (a checked path) resuming strictly after
    /// `after`; `None` when `start` does not exist. `read` is called for
    /// every entry with a UTF-8 name other than `.`/`..`, with the
    /// directory's descriptor and the entry's `d_type`.
    pub fn new(root: &'a TenantRoot, start: &str, after: &'a [&'a str], read: R) -> Result<Option<Self>> {
        let Some(fd) = root.open_dir(start)? else {
            return Ok(None);
        };
        let buf = vec![MaybeUninit::uninit(); READ_BUFFER];
        let mut walk = Walk { root, after, read, levels: Vec::new(), held: 0, peak: 0, buf };
        let cursor = (!after.is_empty()).then_some(0);
        walk.enter(start.to_string(), fd, cursor)?;
        Ok(Some(walk))
    }

    /// Most descriptors held at once so far.
    pub fn peak_descriptors(&self) -> usize {
        self.peak
    }

    /// Visits entries in order until `visit` returns `false` or all are
    /// visited; `visit` gets each entry's path from the root.
    pub fn run(&mut self, mut visit: impl FnMut(&str, &Entry) -> Result<bool>) -> Result<()> {
        while let Some(top) = self.levels.last_mut() {
            let Some(entry) = top.rest.pop() else {
                if top.fd.take().is_some() {
                    self.held -= 1;
                }
                self.levels.pop();
                continue;
            };
            let path = if top.path.is_empty() { entry.name.clone() } else { format!("{}/{}", top.path, entry.name) };
            // On the cursor's path: the cursor itself is skipped, a directory above it resumed.
            let resume = top.cursor.filter(|&i| self.after[i] == entry.name).map(|i| i + 1);
            if resume == Some(self.after.len()) {
                continue;
            }
            if resume.is_none() && !visit(&path, &entry)? {
                return Ok(());
            }
            if entry.kind == FileType::Directory {
                self.descend(path, &entry.name, resume)?;
            }
        }
        Ok(())
    }

    /// Enters subdirectory `name` of the deepest level, at `path`.
    fn descend(&mut self, path: String, name: &str, cursor: Option<usize>) -> Result<()> {
        let Some(parent) = self.top_fd()? else {
            return Ok(());
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
        match openat2_beneath(parent.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => self.enter(path, fd, cursor),
            // Removed or replaced (by a link) while we walked: not ours to list.
            Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => Ok(()),
            Err(e) => Err(Error::os(&format!("walking into {:?}", Shown(&path)), e.into())),
        }
    }

    /// The deepest level's descriptor, re-opened by path if it was closed;
    /// `None` when that directory is gone.
    fn top_fd(&mut self) -> Result<Option<&OwnedFd>> {
        let top = self.levels.last_mut().expect("a level is being walked");
        if top.fd.is_none() {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY;
            match self.root.open_beneath(&top.path, flags, Mode::empty()) {
                Ok(fd) => top.fd = Some(fd),
                Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
                    top.rest.clear();
                    return Ok(None);
                }
                Err(e) => return Err(Error::os(&format!("re-opening {:?}", top.path), e.into())),
            }
            // Held descriptors stay the deepest levels': here, only this one.
            self.held += 1;
            self.peak = self.peak.max(self.held);
        }
        Ok(self.levels.last().and_then(|l| l.fd.as_ref()))
    }

    /// Reads directory `fd` at `path` and makes it the deepest level.
    fn enter(&mut self, path: String, fd: OwnedFd, cursor: Option<usize>) -> Result<()> {
        let mut rest = Vec::new();
        let what = || format!("reading directory {:?}", Shown(&path));
        // `fd` was opened for this walk, so it reads from its first entry.
        let mut entries = RawDir::new(fd.as_fd(), &mut self.buf);
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(entry) => entry,
                // Removed (from outside) since it was opened: as if it were empty, like a
                // directory gone before its open. An interrupted read is retried.
                Err(Errno::NOENT) => break,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::os(&what(), e.into())),
            };
            let Ok(name) = entry.file_name().to_str() else {
                continue; // not UTF-8: no object path can name it
            };
            if name == "." || name == ".." || cursor.is_some_and(|i| name < self.after[i]) {
                continue;
            }
            rest.extend((self.read)(fd.as_fd(), name, entry.file_type()));
        }
        rest.sort_unstable_by(|a, b| b.name.as_bytes().cmp(a.name.as_bytes()));
        let has_subdirs = rest.iter().any(|e| e.kind == FileType::Directory);
        let fd = has_subdirs.then_some(fd);
        self.held += usize::from(fd.is_some());
        if self.held > MAX_HELD {
            // Close the shallowest held descriptor; it is re-opened if needed.
            let shallowest = self.levels.len() - (self.held - 1);
            self.levels[shallowest].fd = None;
            self.held -= 1;
        }
        self.peak = self.peak.max(self.held);
        self.levels.push(Level { path, fd, rest, cursor });
        Ok(())
    }
}
