//! The few durable file-system steps the store is built from.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Result, io_err};

/// Writes `bytes` to the fresh file `tmp`, syncs it, renames it to `dest` and syncs `dest`'s
/// directory. Why this order: the rename is the single atomic step that makes the content
/// visible, and it only happens once the content is on disk, so a crash at any instant leaves
/// either no `dest` or a complete one (plus perhaps a stray `tmp`, cleared at the next open).
pub(crate) fn write_atomic(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let written = write_synced(tmp, bytes)
        .and_then(|()| fs::rename(tmp, dest).map_err(io_err("rename into place", dest)));
    if written.is_err() {
        // Best effort: the temporary file was never visible, and open clears leftovers.
        let _ = fs::remove_file(tmp);
    }
    written?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")))
}

/// Creates `path` (which must not exist), writes `bytes` and syncs them.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create", path))?;
    file.write_all(bytes).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("sync", path))
}

/// Creates the directory `path` if absent (its parent must exist) and makes the new entry
/// durable by syncing the parent.
pub(crate) fn ensure_dir(path: &Path) -> Result<()> {
    match fs::create_dir(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(io_err("create directory", path)(e)),
    }
}

/// Makes changes to a directory's entries durable (a no-op where directories cannot be opened).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))?;
    #[cfg(not(unix))]
    let _ = (dir, File::open);
    Ok(())
}
