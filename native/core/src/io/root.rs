//! Confinement of object paths to the tenant's directory.
//!
//! Two layers, both always on:
//! 1. lexical: [`check_path`] rejects absolute paths, empty, `.` and `..`
//!    segments, NUL, reserved `.kvbox*` names and over-long names;
//! 2. kernel: every open goes through `openat2` from the root's descriptor
//!    with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`,
//!    so a symbolic link planted inside the tree (by anyone) is refused
//!    rather than followed, and nothing resolves above the root.

use crate::{Error, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Longest object path accepted from a connector, in bytes.
pub const MAX_PATH_BYTES: usize = 4000;
/// Longest single segment, in bytes (the Linux `NAME_MAX`).
pub const MAX_SEGMENT_BYTES: usize = 255;
/// Prefix reserved for the host's own files (temporary files).
pub const RESERVED_PREFIX: &str = ".kvbox";

/// An object path quoted for a message: whole up to 120 bytes, else its
/// start and end around `…` and its length (the fs connector's path of a
/// long key runs to 2 000 hex digits).
pub struct Shown<'a>(pub &'a str);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.0;
        if path.len() <= 120 {
            return write!(f, "{path:?}");
        }
        let (mut head, mut tail) = (64, path.len() - 24);
        while !path.is_char_boundary(head) {
            head -= 1;
        }
        while !path.is_char_boundary(tail) {
            tail += 1;
        }
        write!(f, "{:?} ({} bytes)", format!("{}…{}", &path[..head], &path[tail..]), path.len())
    }
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS).union(ResolveFlags::NO_MAGICLINKS);

/// Checks an object path against the lexical rules; `allow_empty` admits
/// `""` (the root itself, for listings).
pub fn check_path(path: &str, allow_empty: bool) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidPath(format!("object path {:?} {why}", Shown(path))));
    if path.is_empty() {
        return if allow_empty { Ok(()) } else { bad("is empty") };
    }
    if path.len() > MAX_PATH_BYTES {
        return bad(&format!("is longer than {MAX_PATH_BYTES} bytes"));
    }
    if path.starts_with('/') {
        return bad("is absolute");
    }
    if path.contains('\0') {
        return bad("contains NUL");
    }
    for seg in path.split('/') {
        match seg {
            "" => return bad("has an empty segment"),
            "." | ".." => return bad("has a '.' or '..' segment"),
            s if s.starts_with(RESERVED_PREFIX) => return bad("uses the reserved '.kvbox' prefix"),
            s if s.len() > MAX_SEGMENT_BYTES => {
                return bad(&format!("has a segment over {MAX_SEGMENT_BYTES} bytes"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Splits a checked path into its parent directory (`""` for the root) and file name.
pub fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Creates directory `path` and its missing ancestors; returns the parents
/// whose entries that added, opened (topmost first: what has to be synced
/// for the new directories to survive a crash). A directory someone else
/// creates meanwhile is fine, and its parent is listed all the same; a
/// parent kvbox may create in but not read (write and search permission
/// only) cannot be opened to sync, and is left out.
fn create_all(path: &Path) -> std::io::Result<VecDeque<std::sync::Arc<OwnedFd>>> {
    let mut parents = Vec::new();
    let mut missing = Some(path);
    while let Some(p) = missing
        && matches!(std::fs::symlink_metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    {
        missing = p.parent().filter(|q| !q.as_os_str().is_empty());
        parents.push(missing.unwrap_or(Path::new(".")));
    }
    std::fs::create_dir_all(path)?;
    let mut opened = VecDeque::new();
    for parent in parents.iter().rev() {
        match rustix::fs::open(*parent, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => opened.push_back(std::sync::Arc::new(fd)),
            Err(Errno::ACCESS) => {} // may create in it, may not read it: cannot be synced
            Err(e) => return Err(e.into()),
        }
    }
    Ok(opened)
}

/// Most directory descriptors a tenant keeps open for reuse (the fs
/// layout has 256 shard directories; past the bound the cache starts over).
const CACHED_DIRS: usize = 1024;

/// The tenant's directory, held open; all access goes through it.
#[derive(Debug)]
pub struct TenantRoot {
    dir: OwnedFd,
    /// Directories opened beneath the root, by relative path, kept open so
    /// a read, stat or remove resolves one name from them (`statat`,
    /// `openat` with `O_NOFOLLOW`) instead of a whole path. Sound because
    /// kvbox never removes or renames a directory, every entry was opened
    /// by [`openat2_beneath`] (no symlinks, no escape), and writes reopen
    /// theirs ([`TenantRoot::reopen_dir`]): a directory swapped for a link
    /// behind kvbox's back is refused at the next write of it and dropped
    /// from here; until then reads keep using the original directory (still
    /// the same inode, never the link's target).
    dirs: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<OwnedFd>>>,
    /// Directories whose entries changed since their last sync, until a
    /// durable write syncs them ([`TenantRoot::sync_parents`]): the parents
    /// of the directories [`TenantRoot::open`] created (the root, and any
    /// missing ancestors, topmost first), then those of directories made
    /// beneath the root ([`TenantRoot::make_dir_in`]).
    unsynced: std::sync::Mutex<VecDeque<std::sync::Arc<OwnedFd>>>,
    /// Whether `unsynced` may hold anything: the check every durable write makes.
    any_unsynced: AtomicBool,
}

impl TenantRoot {
    /// Opens (creating if needed) the directory at `path`. An existing one,
    /// the usual case, costs one `open`; `mkdir` only follows its absence.
    pub fn open(path: &Path) -> Result<Self> {
        let open = || rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty());
        let mut unsynced = VecDeque::new();
        let dir = match open() {
            Err(Errno::NOENT) => {
                unsynced = create_all(path).map_err(|e| Error::os(&format!("creating root {}", path.display()), e))?;
                open()
            }
            other => other,
        }
        .map_err(|e| match e {
            // The root's own path may hold links (only paths beneath it may not): a loop is an I/O error.
            Errno::LOOP => Error::Io(format!("opening root {}: too many levels of symbolic links", path.display())),
            e => Error::os(&format!("opening root {}", path.display()), e.into()),
        })?;
        let any_unsynced = AtomicBool::new(!unsynced.is_empty());
        Ok(Self { dir, dirs: Default::default(), unsynced: std::sync::Mutex::new(unsynced), any_unsynced })
    }

    /// Forgets the directories [`TenantRoot::open`] created, unsynced: for a
    /// tenant whose writes never sync (`durable: false`), so it holds no
    /// descriptors of directories above its root.
    pub fn forget_unsynced(&self) {
        self.unsynced.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.any_unsynced.store(false, Ordering::Release);
    }

    /// Makes directory `name` in `parent` (beneath the root) with `mkdirat`,
    /// recording `parent` for the next durable write to sync when `durable`.
    /// The record and the `mkdir` happen under the lock [`TenantRoot::sync_parents`]
    /// holds while syncing: a sync either ends before the `mkdir` (and leaves
    /// this record) or starts after it (and covers it), so any write that
    /// finds the new directory also finds it synced or recorded.
    pub fn make_dir_in(&self, parent: &std::sync::Arc<OwnedFd>, name: &str, durable: bool) -> std::result::Result<(), Errno> {
        let mode = Mode::from_raw_mode(0o755);
        if !durable {
            return rustix::fs::mkdirat(&**parent, name, mode);
        }
        let mut unsynced = self.unsynced.lock().unwrap_or_else(|p| p.into_inner());
        unsynced.push_back(parent.clone());
        self.any_unsynced.store(true, Ordering::Release);
        rustix::fs::mkdirat(&**parent, name, mode)
    }

    /// Syncs every directory whose entries changed since its last sync
    /// (directories [`TenantRoot::open`] or a write created). A durable write
    /// calls this after syncing its object and the object's directory and
    /// before it reports success, so no write that uses a new directory —
    /// its own or one another write just made — succeeds before that
    /// directory's entry is synced. (On ext4 this sync, after the object's,
    /// costs a device flush as one right after the `mkdir` did: measured, no
    /// I/O saved.) Nothing to do (one atomic load) once a tenant's
    /// directories exist.
    pub fn sync_parents(&self) -> Result<()> {
        if !self.any_unsynced.load(Ordering::Acquire) {
            return Ok(());
        }
        // Held while syncing: a concurrent write waits, then finds them synced.
        // One that fails stays first, for the next durable write to try again.
        let mut unsynced = self.unsynced.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(parent) = unsynced.front() {
            rustix::fs::fsync(&**parent).map_err(|e| Error::os("syncing a new directory's parent", e.into()))?;
            unsynced.pop_front();
        }
        self.any_unsynced.store(false, Ordering::Release);
        Ok(())
    }

    /// The (device, inode) of each directory [`TenantRoot::sync_parents`] has yet to sync.
    #[cfg(test)]
    pub fn unsynced(&self) -> Vec<(u64, u64)> {
        let unsynced = self.unsynced.lock().unwrap();
        unsynced.iter().map(|fd| rustix::fs::fstat(&**fd).map(|st| (st.st_dev, st.st_ino)).unwrap()).collect()
    }

    /// The root's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Opens `rel` (already checked) strictly beneath the root.
    pub fn open_beneath(&self, rel: &str, flags: OFlags, mode: Mode) -> std::result::Result<OwnedFd, Errno> {
        openat2_beneath(self.dir.as_fd(), if rel.is_empty() { "." } else { rel }, flags, mode)
    }

    /// Directory `rel` (already checked) beneath the root, from the cache
    /// or opened (and cached); `None` when it does not exist.
    pub fn dir(&self, rel: &str) -> Result<Option<std::sync::Arc<OwnedFd>>> {
        let cache = || self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(fd) = cache().get(rel) {
            return Ok(Some(fd.clone()));
        }
        let Some(fd) = self.open_dir(rel)? else {
            return Ok(None);
        };
        Ok(Some(self.remember(rel, fd)))
    }

    /// Directory `rel` opened afresh beneath the root, replacing the cached
    /// descriptor; on failure (absent, a link, an escape) the cached one is
    /// dropped too.
    pub fn reopen_dir(&self, rel: &str) -> Result<Option<std::sync::Arc<OwnedFd>>> {
        match self.open_dir(rel) {
            Ok(Some(fd)) => Ok(Some(self.remember(rel, fd))),
            other => {
                self.dirs.lock().unwrap_or_else(|p| p.into_inner()).remove(rel);
                other.map(|_| None)
            }
        }
    }

    /// Caches `fd`, directory `rel` just opened beneath the root.
    pub fn remember(&self, rel: &str, fd: impl Into<std::sync::Arc<OwnedFd>>) -> std::sync::Arc<OwnedFd> {
        let fd = fd.into();
        let mut cache = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_DIRS {
            cache.clear();
        }
        cache.insert(rel.to_string(), fd.clone());
        fd
    }

    /// Opens directory `rel` (already checked) beneath the root; `None`
    /// when it does not exist.
    pub fn open_dir(&self, rel: &str) -> Result<Option<OwnedFd>> {
        match self.open_beneath(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::os(&format!("opening directory {:?}", Shown(rel)), e.into())),
        }
    }
}

/// The one way kvbox opens anything in a tenant's tree: `openat2` from
/// `dir` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`
/// and `O_CLOEXEC`. `openat2` fails with EAGAIN when a concurrent rename
/// races the resolution (and EINTR on a signal): retried a bounded number
/// of times.
pub fn openat2_beneath(dir: BorrowedFd<'_>, rel: &str, flags: OFlags, mode: Mode) -> std::result::Result<OwnedFd, Errno> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, rel, flags | OFlags::CLOEXEC, mode, RESOLVE) {
            Err(Errno::AGAIN) | Err(Errno::INTR) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    #[test]
    fn lexical_rules() {
        for ok in ["a", "a/b", "ab/cd.obj", "x.kvbox", "a/.hidden", "..a", "a.."] {
            assert!(check_path(ok, false).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a//b", "a/", "./a", "a/..", "../x", "a/./b", "a\0b", ".kvbox-tmp-1", "d/.kvboxx"] {
            assert!(matches!(check_path(bad, false), Err(Error::InvalidPath(_))), "{bad:?}");
        }
        assert!(check_path("", true).is_ok());
        assert!(check_path(&"a".repeat(256), false).is_err());
        assert!(check_path(&"a/".repeat(2001), false).is_err());
    }

    #[test]
    fn messages_quote_long_paths_shortened() {
        assert_eq!(format!("{:?}", Shown("ab/cd.obj")), "\"ab/cd.obj\"");
        let long = format!("ab/{}", "é".repeat(1000));
        let shown = format!("{:?}", Shown(&long));
        assert!(shown.starts_with("\"ab/é") && shown.ends_with("é\" (2003 bytes)") && shown.contains('…'), "{shown}");
        assert!(shown.len() < 120, "{shown}");
        let Err(Error::InvalidPath(m)) = check_path(&"a/".repeat(2001), false) else { panic!("refused") };
        assert!(m.len() < 200 && m.contains("(4002 bytes) is longer than"), "{m}");
    }

    #[test]
    fn lists_the_parents_of_the_directories_it_creates_until_synced() {
        let tmp = tempfile::tempdir().unwrap();
        let root = TenantRoot::open(&tmp.path().join("a/b/c")).unwrap();
        let t = tmp.path().to_path_buf();
        let id = |p: PathBuf| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).unwrap();
        assert_eq!(root.unsynced(), vec![id(t.clone()), id(t.join("a")), id(t.join("a/b"))], "topmost first");
        root.sync_parents().unwrap();
        assert!(root.unsynced().is_empty());
        assert!(TenantRoot::open(&t.join("a/b/c")).unwrap().unsynced().is_empty(), "nothing created: nothing to sync");
        assert_eq!(TenantRoot::open(&t.join("a/d")).unwrap().unsynced(), vec![id(t.join("a"))]);
    }

    #[test]
    fn split_parent_of_paths() {
        assert_eq!(split_parent("a/b/c"), ("a/b", "c"));
        assert_eq!(split_parent("c"), ("", "c"));
    }

    #[test]
    fn refuses_symlinks_and_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let root = TenantRoot::open(&tmp.path().join("tenant")).unwrap();
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("tenant/link")).unwrap();
        std::os::unix::fs::symlink("../../", tmp.path().join("tenant/up")).unwrap();
        let e = root.open_beneath("link/secret", OFlags::RDONLY, Mode::empty()).unwrap_err();
        assert_eq!(e, Errno::LOOP);
        assert!(root.open_beneath("up/x", OFlags::RDONLY, Mode::empty()).is_err());
        assert!(matches!(root.open_dir("link"), Err(Error::InvalidPath(_))));
        // Lexical escapes never reach the kernel, but the kernel refuses them too.
        assert_eq!(root.open_beneath("../x", OFlags::RDONLY, Mode::empty()).unwrap_err(), Errno::XDEV);
        assert!(root.open_beneath("/etc/passwd", OFlags::RDONLY, Mode::empty()).is_err());
    }

    #[test]
    fn roots_are_made_when_absent_and_may_be_reached_through_links() {
        let tmp = tempfile::tempdir().unwrap();
        // Absent, with absent parents: made.
        let deep = tmp.path().join("a/b/tenant");
        TenantRoot::open(&deep).unwrap();
        assert!(deep.is_dir());
        // The root's own path may go through a link (only paths beneath it may not).
        std::os::unix::fs::symlink(&deep, tmp.path().join("via")).unwrap();
        std::fs::write(deep.join("f"), b"1").unwrap();
        let linked = TenantRoot::open(&tmp.path().join("via")).unwrap();
        assert!(linked.open_beneath("f", OFlags::RDONLY, Mode::empty()).is_ok());
        // A loop, or a file, is an error with the path, not "a link beneath the root".
        std::os::unix::fs::symlink("loop", tmp.path().join("loop")).unwrap();
        let e = TenantRoot::open(&tmp.path().join("loop")).unwrap_err();
        assert!(matches!(&e, Error::Io(m) if m.contains("symbolic links") && m.contains("loop")), "{e:?}");
        let e = TenantRoot::open(&deep.join("f")).unwrap_err();
        assert!(matches!(&e, Error::Io(m) if m.contains("opening root")), "{e:?}");
    }
}
