//! The pins file: one hex [`BlobId`] per line, sorted, rewritten atomically on every change.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::BlobId;
use crate::error::{BlobError, Result, io_err};
use crate::limits::{PINS_FILE_SIZE_MAX_BYTES, PINS_MAX};

/// Reads the pins at `path`; a missing file means no pins. Anything unparsable is
/// [`BlobError::PinsCorrupt`]: forgetting a pin silently would let a prune delete its blob.
pub(crate) fn load(path: &Path) -> Result<BTreeSet<BlobId>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let corrupt = |line| BlobError::PinsCorrupt {
        path: path.to_owned(),
        line,
    };
    // Bounded read: one byte past the limit tells us the file is over it.
    let mut bytes = Vec::new();
    file.take(PINS_FILE_SIZE_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    if bytes.len() as u64 > PINS_FILE_SIZE_MAX_BYTES {
        return Err(corrupt(0));
    }
    let text = String::from_utf8(bytes).map_err(|_| corrupt(0))?;
    let mut pins = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let id = line
            .parse::<BlobId>()
            .map_err(|_| corrupt(index.saturating_add(1)))?;
        pins.insert(id);
        if pins.len() > PINS_MAX {
            return Err(corrupt(index.saturating_add(1)));
        }
    }
    Ok(pins)
}

/// The file contents for `pins`.
pub(crate) fn encode(pins: &BTreeSet<BlobId>) -> Vec<u8> {
    let mut text = String::with_capacity(pins.len().saturating_mul(BlobId::HEX_LEN + 1));
    for id in pins {
        text.push_str(&id.to_hex());
        text.push('\n');
    }
    text.into_bytes()
}
