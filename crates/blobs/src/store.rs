//! [`BlobStore`]: the directory of blobs, its in-memory index, pins and pruning.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::disk::{ensure_dir, sync_dir, write_atomic};
use crate::error::{BlobError, Result, io_err};
use crate::limits::{BlobLimits, PINS_MAX};
use crate::{BlobId, pins};

/// Name of the lock file that keeps a directory to one open store.
const LOCK_FILE: &str = "lock";
/// Name of the pins file.
const PINS_FILE: &str = "pins";
/// Directory of files being written; never read, emptied at open.
const TMP_DIR: &str = "tmp";
/// Directory where files that failed verification are moved (kept for inspection).
const QUARANTINE_DIR: &str = "quarantine";

/// A content-addressed store of blobs in one directory. See the crate docs for the layout and
/// the invariants. All methods take `&self`; share it across threads with an `Arc`.
#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    /// Largest single blob (fixed at open); the store cap lives in [State] because it follows
    /// the free disk space.
    blob_size_max_bytes: u64,
    state: Mutex<State>,
    /// Holds the directory's exclusive lock for as long as the store is open.
    _lock: File,
}

/// What the store knows, guarded by one mutex. Writers (put, pin, prune, quarantine) hold it
/// for their whole operation, so the size accounting is exact; readers hold it only to look up
/// a size, then read and verify the file without it.
#[derive(Debug)]
struct State {
    /// Every stored blob and its size in bytes.
    sizes: BTreeMap<BlobId, u64>,
    /// The sum of `sizes`.
    total_bytes: u64,
    /// Room promised to [BlobWriter](crate::BlobWriter)s still streaming: counted against the
    /// cap so concurrent uploads cannot overshoot it together.
    reserved_bytes: u64,
    /// The cap on `total_bytes` (see [`BlobStore::set_store_size_max_bytes`]).
    store_size_max_bytes: u64,
    pins: BTreeSet<BlobId>,
    /// Makes each temporary file name unique.
    tmp_seq: u64,
    /// Makes each quarantined file name unique.
    quarantine_seq: u64,
}

/// What a [`BlobStore::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The removed blobs, sorted.
    pub removed: Vec<BlobId>,
    /// The sum of their sizes.
    pub bytes_freed: u64,
}

/// The outcome of reading one blob file.
enum Check {
    Good(Vec<u8>),
    Corrupt,
    Missing,
}

impl BlobStore {
    /// Opens (creating if needed) the store in `dir`: takes the directory's lock, deletes
    /// leftover temporary files, indexes every blob file and loads the pins.
    ///
    /// Files are not re-hashed here (that would read the whole store); every [`get`](Self::get)
    /// verifies instead. A store that is already over `limits` opens fine and refuses new blobs
    /// until pruned.
    pub fn open(dir: impl AsRef<Path>, limits: BlobLimits) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let lock = lock_dir(&dir)?;
        clear_tmp(&dir.join(TMP_DIR))?;
        let quarantine = dir.join(QUARANTINE_DIR);
        ensure_dir(&quarantine)?;
        let quarantine_seq = fs::read_dir(&quarantine)
            .map_err(io_err("list", &quarantine))?
            .count() as u64;
        let sizes = scan(&dir)?;
        let total_bytes = sizes
            .values()
            .fold(0u64, |sum, &size| sum.saturating_add(size));
        let pins = pins::load(&dir.join(PINS_FILE))?;
        let state = State {
            sizes,
            total_bytes,
            reserved_bytes: 0,
            store_size_max_bytes: limits.store_size_max_bytes,
            pins,
            tmp_seq: 0,
            quarantine_seq,
        };
        Ok(Self {
            dir,
            blob_size_max_bytes: limits.blob_size_max_bytes,
            state: Mutex::new(state),
            _lock: lock,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The limits in force: the per-blob limit the store was opened with and the current cap.
    pub fn limits(&self) -> BlobLimits {
        BlobLimits {
            blob_size_max_bytes: self.blob_size_max_bytes,
            store_size_max_bytes: self.state().store_size_max_bytes,
        }
    }

    /// Changes the cap on the sum of stored blob sizes. Lowering it below what is stored
    /// removes nothing: new blobs are refused until a prune makes room.
    pub fn set_store_size_max_bytes(&self, max_bytes: u64) {
        self.state().store_size_max_bytes = max_bytes;
    }

    /// Sets the cap from the file system's free space, so blobs can never fill the disk that
    /// consensus storage shares: what is stored plus
    /// 1/[STORE_FREE_SPACE_SHARE_DIVISOR](crate::limits::STORE_FREE_SPACE_SHARE_DIVISOR) of the
    /// space still available to this process, never above `ceiling_bytes`. Returns the new cap.
    pub fn fit_cap_to_disk(&self, ceiling_bytes: u64) -> Result<u64> {
        let available = available_bytes(&self.dir)?;
        let mut state = self.state();
        let room = available / crate::limits::STORE_FREE_SPACE_SHARE_DIVISOR;
        let cap = state.total_bytes.saturating_add(room).min(ceiling_bytes);
        state.store_size_max_bytes = cap;
        Ok(cap)
    }

    /// Bytes promised to writers still streaming (see [`writer`](Self::writer)).
    pub fn reserved_bytes(&self) -> u64 {
        self.state().reserved_bytes
    }

    /// Stores `bytes` and returns their id. Storing bytes already present is a no-op that
    /// returns the same id (and is allowed even when the store is full).
    pub fn put(&self, bytes: &[u8]) -> Result<BlobId> {
        self.put_with_limit(bytes, u64::MAX)
    }

    /// [`put`](Self::put) with a per-call size limit (e.g. a task's per-update limit); the
    /// effective limit is the smaller of `max_bytes` and the store's `blob_size_max_bytes`.
    pub fn put_with_limit(&self, bytes: &[u8], max_bytes: u64) -> Result<BlobId> {
        self.check_size(bytes, max_bytes)?;
        let id = BlobId::of(bytes);
        self.store(id, bytes)?;
        Ok(id)
    }

    /// Stores bytes fetched from an untrusted peer under the id the ledger names. If they do
    /// not hash to `expected` it is [`BlobError::HashMismatch`] and nothing is written.
    pub fn put_expected(&self, expected: BlobId, bytes: &[u8]) -> Result<()> {
        self.put_expected_with_limit(expected, bytes, u64::MAX)
    }

    /// [`put_expected`](Self::put_expected) with a per-call size limit, checked before hashing.
    pub fn put_expected_with_limit(
        &self,
        expected: BlobId,
        bytes: &[u8],
        max_bytes: u64,
    ) -> Result<()> {
        self.check_size(bytes, max_bytes)?;
        let got = BlobId::of(bytes);
        if got != expected {
            return Err(BlobError::HashMismatch { expected, got });
        }
        self.store(expected, bytes)
    }

    /// The bytes of blob `id`, or `None` if the store does not hold it.
    ///
    /// The file is re-hashed on every read. If it no longer hashes to `id` it is moved to the
    /// quarantine directory, forgotten, and reported as [`BlobError::Corrupt`]; later calls
    /// return `None` until the blob is put again.
    pub fn get(&self, id: BlobId) -> Result<Option<Vec<u8>>> {
        let Some(size) = self.size(id) else {
            return Ok(None);
        };
        match self.read_verified(id, size)? {
            Check::Good(bytes) => Ok(Some(bytes)),
            Check::Corrupt | Check::Missing => self.contain_fault(id),
        }
    }

    /// Whether the store holds blob `id`.
    pub fn has(&self, id: BlobId) -> bool {
        self.state().sizes.contains_key(&id)
    }

    /// The size in bytes of blob `id`, if held.
    pub fn size(&self, id: BlobId) -> Option<u64> {
        self.state().sizes.get(&id).copied()
    }

    /// Every held blob id, sorted.
    pub fn list(&self) -> Vec<BlobId> {
        self.state().sizes.keys().copied().collect()
    }

    /// The sum of all held blob sizes, in bytes (what the store cap is checked against).
    pub fn total_bytes(&self) -> u64 {
        self.state().total_bytes
    }

    /// Pins `id` so that [`prune`](Self::prune) keeps it; the blob need not be held yet (pin
    /// first, fetch later). Durable before it returns. Returns whether it was newly pinned.
    pub fn pin(&self, id: BlobId) -> Result<bool> {
        let mut state = self.state();
        if state.pins.contains(&id) {
            return Ok(false);
        }
        if state.pins.len() >= PINS_MAX {
            return Err(BlobError::TooManyPins { max: PINS_MAX });
        }
        state.pins.insert(id);
        if let Err(e) = self.write_pins(&mut state) {
            state.pins.remove(&id);
            return Err(e);
        }
        Ok(true)
    }

    /// Removes the pin on `id` (the blob stays until a prune). Returns whether it was pinned.
    pub fn unpin(&self, id: BlobId) -> Result<bool> {
        let mut state = self.state();
        if !state.pins.remove(&id) {
            return Ok(false);
        }
        if let Err(e) = self.write_pins(&mut state) {
            state.pins.insert(id);
            return Err(e);
        }
        Ok(true)
    }

    /// Whether `id` is pinned.
    pub fn is_pinned(&self, id: BlobId) -> bool {
        self.state().pins.contains(&id)
    }

    /// Every pinned id, sorted.
    pub fn pins(&self) -> Vec<BlobId> {
        self.state().pins.iter().copied().collect()
    }

    /// Removes every held blob that is neither in `keep` nor pinned. `keep` is the set of
    /// hashes the ledger still references (every checkpoint, every update a round may still
    /// need): anything in it, or pinned, is never touched.
    ///
    /// Removals are not synced: a blob that reappears after a crash is still a valid blob, and
    /// the next prune removes it again.
    pub fn prune(&self, keep: &BTreeSet<BlobId>) -> Result<PruneReport> {
        let mut state = self.state();
        let doomed: Vec<(BlobId, u64)> = state
            .sizes
            .iter()
            .filter(|(id, _)| !keep.contains(id) && !state.pins.contains(id))
            .map(|(&id, &size)| (id, size))
            .collect();
        let mut report = PruneReport::default();
        for (id, size) in doomed {
            let path = self.blob_path(id);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", path)(e)),
            }
            forget(&mut state, id);
            report.removed.push(id);
            report.bytes_freed = report.bytes_freed.saturating_add(size);
        }
        Ok(report)
    }

    /// `dir/aa/bb/<hex>`: the first two bytes of the id fan files out over 65,536 directories
    /// so no directory grows large.
    pub fn blob_path(&self, id: BlobId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every state update is a single step after its disk effect succeeded, so a panic
        // elsewhere cannot leave it half-changed: the poisoned guard is safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_size(&self, bytes: &[u8], max_bytes: u64) -> Result<()> {
        let max = max_bytes.min(self.blob_size_max_bytes);
        let size = bytes.len() as u64;
        if size > max {
            return Err(BlobError::TooLarge { size, max });
        }
        Ok(())
    }

    /// Writes verified bytes under `id` unless already held.
    fn store(&self, id: BlobId, bytes: &[u8]) -> Result<()> {
        let mut state = self.state();
        let size = bytes.len() as u64;
        match state.sizes.get(&id) {
            Some(&held) if held == size => return Ok(()),
            // A file of the wrong length cannot be these bytes: it is damaged, replace it.
            Some(_) => {
                self.quarantine(&mut state, id)?;
            }
            None => {}
        }
        check_room(&state, size, 0)?;
        let path = self.blob_path(id);
        self.ensure_fanout(id)?;
        let tmp = self.tmp_path(&mut state, &id.to_hex());
        write_atomic(&tmp, &path, bytes)?;
        state.sizes.insert(id, size);
        state.total_bytes = state.total_bytes.saturating_add(size);
        Ok(())
    }

    /// Creates the two fan-out directories of blob `id`'s path.
    fn ensure_fanout(&self, id: BlobId) -> Result<()> {
        let path = self.blob_path(id);
        let mut parents = path.ancestors().skip(1);
        let (Some(bb), Some(aa)) = (parents.next(), parents.next()) else {
            // `blob_path` always joins `dir/aa/bb/<hex>`.
            return Err(io_err("place", &path)(io::ErrorKind::InvalidInput.into()));
        };
        ensure_dir(aa)?;
        ensure_dir(bb)
    }

    /// Promises `bytes` of room to a writer: refused when what is stored, what other writers
    /// were promised and `bytes` would pass the cap.
    pub(crate) fn reserve(&self, bytes: u64) -> Result<()> {
        let mut state = self.state();
        check_room(&state, bytes, 0)?;
        state.reserved_bytes = state.reserved_bytes.saturating_add(bytes);
        Ok(())
    }

    /// Gives back room promised by [`reserve`](Self::reserve).
    pub(crate) fn unreserve(&self, bytes: u64) {
        let mut state = self.state();
        state.reserved_bytes = state.reserved_bytes.saturating_sub(bytes);
    }

    /// A fresh temporary path for a writer; the file is created by the caller.
    pub(crate) fn new_tmp_path(&self, stem: &str) -> PathBuf {
        let mut state = self.state();
        self.tmp_path(&mut state, stem)
    }

    /// Moves the synced, hash-checked temporary file `tmp` (`size` bytes of blob `id`) into
    /// place, within the room `reserved` for it. Already held: `tmp` is removed, a no-op.
    pub(crate) fn commit_file(
        &self,
        id: BlobId,
        tmp: &Path,
        size: u64,
        reserved: u64,
    ) -> Result<()> {
        let mut state = self.state();
        match state.sizes.get(&id) {
            Some(&held) if held == size => {
                let _ = fs::remove_file(tmp);
                return Ok(());
            }
            // A file of the wrong length cannot be these bytes: it is damaged, replace it.
            Some(_) => {
                self.quarantine(&mut state, id)?;
            }
            None => {}
        }
        // The writer's own promise is part of `reserved_bytes`: do not count it twice.
        check_room(&state, size, reserved)?;
        self.ensure_fanout(id)?;
        let path = self.blob_path(id);
        fs::rename(tmp, &path).map_err(io_err("rename into place", &path))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        state.sizes.insert(id, size);
        state.total_bytes = state.total_bytes.saturating_add(size);
        Ok(())
    }

    /// Reads blob `id`'s file (expected to be `size` bytes) and checks its hash.
    fn read_verified(&self, id: BlobId, size: u64) -> Result<Check> {
        let path = self.blob_path(id);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Check::Missing),
            Err(e) => return Err(io_err("open", path)(e)),
        };
        // Bounded read: one byte past the expected size is enough to know it is wrong.
        let capacity = usize::try_from(size.min(self.blob_size_max_bytes)).unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity);
        file.take(size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_err("read", &path))?;
        if bytes.len() as u64 != size || BlobId::of(&bytes) != id {
            return Ok(Check::Corrupt);
        }
        Ok(Check::Good(bytes))
    }

    /// Called when a read found blob `id` corrupt or missing. Re-checks under the lock (a
    /// concurrent put or prune may have changed it), then quarantines or forgets it.
    fn contain_fault(&self, id: BlobId) -> Result<Option<Vec<u8>>> {
        let mut state = self.state();
        let Some(&size) = state.sizes.get(&id) else {
            return Ok(None);
        };
        match self.read_verified(id, size)? {
            Check::Good(bytes) => Ok(Some(bytes)),
            Check::Corrupt => {
                let path = self.quarantine(&mut state, id)?;
                Err(BlobError::Corrupt { id, path })
            }
            Check::Missing => {
                forget(&mut state, id);
                let path = self.blob_path(id);
                Err(BlobError::Missing { id, path })
            }
        }
    }

    /// Moves blob `id`'s file into the quarantine directory and forgets it; returns where it
    /// went. If the move fails the blob stays indexed, and every read still re-verifies it, so
    /// it is never served.
    fn quarantine(&self, state: &mut State, id: BlobId) -> Result<PathBuf> {
        let from = self.blob_path(id);
        let dir = self.dir.join(QUARANTINE_DIR);
        let to = loop {
            let candidate = dir.join(format!("{id}.{}", state.quarantine_seq));
            state.quarantine_seq = state.quarantine_seq.wrapping_add(1);
            if !candidate.exists() {
                break candidate;
            }
        };
        match fs::rename(&from, &to) {
            Ok(()) => sync_dir(&dir)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("quarantine", from)(e)),
        }
        forget(state, id);
        Ok(to)
    }

    fn write_pins(&self, state: &mut State) -> Result<()> {
        let tmp = self.tmp_path(state, PINS_FILE);
        write_atomic(&tmp, &self.dir.join(PINS_FILE), &pins::encode(&state.pins))
    }

    fn tmp_path(&self, state: &mut State, stem: &str) -> PathBuf {
        state.tmp_seq = state.tmp_seq.wrapping_add(1);
        self.dir
            .join(TMP_DIR)
            .join(format!("{stem}.{}", state.tmp_seq))
    }
}

/// Refuses `size` new bytes when the stored total plus the room promised to writers (less
/// `own_reserved`, the caller's own promise) plus `size` would pass the cap.
fn check_room(state: &State, size: u64, own_reserved: u64) -> Result<()> {
    let max = state.store_size_max_bytes;
    let total = state
        .total_bytes
        .saturating_add(state.reserved_bytes.saturating_sub(own_reserved));
    if total.checked_add(size).is_none_or(|after| after > max) {
        return Err(BlobError::StoreFull { size, total, max });
    }
    Ok(())
}

/// Bytes the file system holding `dir` still has for an unprivileged writer (statvfs
/// `f_bavail` × `f_frsize`).
fn available_bytes(dir: &Path) -> Result<u64> {
    let stat = rustix::fs::statvfs(dir)
        .map_err(|e| io_err("measure free space of", dir)(io::Error::from(e)))?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Drops `id` from the index and the size total.
fn forget(state: &mut State, id: BlobId) {
    if let Some(size) = state.sizes.remove(&id) {
        state.total_bytes = state.total_bytes.saturating_sub(size);
    }
}

/// Takes the exclusive lock on `dir`, so the in-memory index and size total are the only ones
/// changing the directory (a second handle would make both stale).
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open lock file", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(BlobError::Locked {
            path: dir.to_owned(),
        }),
        Err(TryLockError::Error(e)) => Err(io_err("lock", path)(e)),
    }
}

/// Empties (creating if needed) the temporary directory: anything there is an unfinished
/// write from a crash and was never visible as a blob.
fn clear_tmp(tmp: &Path) -> Result<()> {
    ensure_dir(tmp)?;
    for entry in fs::read_dir(tmp).map_err(io_err("list", tmp))? {
        let path = entry.map_err(io_err("list", tmp))?.path();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove stale temporary file", path)(e)),
        }
    }
    Ok(())
}

/// Indexes every blob file under `dir/aa/bb/`. Only regular files whose name is a canonical
/// id in its right fan-out directory count; anything else is left alone and ignored.
fn scan(dir: &Path) -> Result<BTreeMap<BlobId, u64>> {
    let mut sizes = BTreeMap::new();
    for aa in subdirs(dir)? {
        for bb in subdirs(&aa)? {
            for entry in fs::read_dir(&bb).map_err(io_err("list", &bb))? {
                let entry = entry.map_err(io_err("list", &bb))?;
                let Some(id) = canonical_id(&entry.file_name()) else {
                    continue;
                };
                let path = entry.path();
                let meta = entry.metadata().map_err(io_err("inspect", &path))?;
                let hex = id.to_hex();
                let placed = aa.ends_with(&hex[0..2]) && bb.ends_with(&hex[2..4]);
                if meta.is_file() && placed {
                    sizes.insert(id, meta.len());
                }
            }
        }
    }
    Ok(sizes)
}

/// The fan-out subdirectories (two lowercase hex digits) of `dir`.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let fanout = name
            .to_str()
            .is_some_and(|n| n.len() == 2 && n.bytes().all(is_lower_hex));
        let is_dir = entry
            .file_type()
            .map_err(io_err("inspect", entry.path()))?
            .is_dir();
        if fanout && is_dir {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

/// The id named by a file name, if it is exactly an id's canonical (lowercase) hex form.
fn canonical_id(name: &OsStr) -> Option<BlobId> {
    let name = name.to_str()?;
    if !name.bytes().all(is_lower_hex) {
        return None;
    }
    name.parse().ok()
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}
