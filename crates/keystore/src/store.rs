//! The key directory: naming, atomic no-overwrite writes, permissions, listing.

use crate::error::io_err;
use crate::file::{OpenError, Sealed};
use crate::{KdfParams, KeyInfo, KeyKind, KeystoreError, Result, crypto, validate_name};
use cairn_types::PrivateKey;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest key file read (a real one is under 1 KiB); bigger files are reported as corrupt.
pub const KEY_FILE_SIZE_MAX_BYTES: u64 = 16 * 1024;
/// Most directory entries [`Keystore::list`] scans before it stops and reports the rest.
pub const LIST_ENTRIES_MAX: usize = 100_000;

const KEY_FILE_EXTENSION: &str = "json";

/// The result of [`Keystore::list`]: the readable keys, and every file that could not be read.
///
/// Why not skip bad files: a key that silently disappears from the listing is how users lose
/// track of funds; a corrupt or foreign file in the key directory is worth a loud warning.
#[derive(Debug, Default)]
pub struct Listing {
    /// Readable keys, sorted by name.
    pub keys: Vec<KeyInfo>,
    /// One error per `*.json` file that is not a valid key file (or per unreadable entry).
    pub problems: Vec<KeystoreError>,
}

/// A directory of password-encrypted key files.
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
    kdf: KdfParams,
}

impl Keystore {
    /// Opens (creating it if needed) the key directory; new keys use [`KdfParams::DEFAULT`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        Self::open_with_kdf(dir, KdfParams::DEFAULT)
    }

    /// Like [`Keystore::open`], sealing new keys with `kdf` (tests pass
    /// [`KdfParams::INSECURE_FAST`]). Existing keys always unlock with the parameters in their
    /// own file.
    pub fn open_with_kdf(dir: impl Into<PathBuf>, kdf: KdfParams) -> Result<Self> {
        kdf.validate()?;
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(Self { dir, kdf })
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file key `name` is (or would be) stored in.
    pub fn path_of(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.dir.join(format!("{name}.{KEY_FILE_EXTENSION}")))
    }

    /// Generates a key from the OS random number generator and stores it under `password`.
    pub fn generate(&self, name: &str, kind: KeyKind, password: &str) -> Result<KeyInfo> {
        let secret = crate::try_random_private_key()?;
        self.import(name, kind, &secret, password)
    }

    /// Stores an existing secret key under `password`. Never overwrites an existing key.
    pub fn import(
        &self,
        name: &str,
        kind: KeyKind,
        secret: &PrivateKey,
        password: &str,
    ) -> Result<KeyInfo> {
        let path = self.path_of(name)?;
        if password.is_empty() {
            return Err(KeystoreError::EmptyPassword { name: name.into() });
        }
        // Checked here to fail before the slow KDF; `write_new` checks again atomically.
        if fs::symlink_metadata(&path).is_ok() {
            return Err(KeystoreError::AlreadyExists {
                name: name.into(),
                path,
            });
        }
        let sealed = Sealed::seal(name, kind, secret, password, self.kdf)?;
        self.write_new(name, &path, &sealed.to_json())?;
        Ok(KeyInfo {
            name: name.into(),
            kind,
            public_key: sealed.public_key,
            path,
        })
    }

    /// Reads a key's public facts (no password needed).
    pub fn info(&self, name: &str) -> Result<KeyInfo> {
        let (sealed, path) = self.read(name)?;
        Ok(KeyInfo {
            name: sealed.name,
            kind: sealed.kind,
            public_key: sealed.public_key,
            path,
        })
    }

    /// Decrypts a key.
    ///
    /// Errors: [`KeystoreError::WrongPassword`] when the password does not match;
    /// [`KeystoreError::Corrupt`] when the file was modified (ciphertext, name, kind or public key).
    pub fn unlock(&self, name: &str, password: &str) -> Result<PrivateKey> {
        let (sealed, path) = self.read(name)?;
        sealed.open(password).map_err(|e| match e {
            OpenError::WrongPassword => KeystoreError::WrongPassword { name: name.into() },
            OpenError::Corrupt(reason) => KeystoreError::Corrupt { path, reason },
            OpenError::Kdf(e) => e,
        })
    }

    /// Decrypts a key for export; identical to [`Keystore::unlock`], named for intent at call
    /// sites that are about to show the secret to a person.
    pub fn export(&self, name: &str, password: &str) -> Result<PrivateKey> {
        self.unlock(name, password)
    }

    /// Lists the keys, sorted by name, with every unreadable key file reported.
    ///
    /// Files whose name starts with `.` (in-progress writes) or that do not end in `.json` are
    /// ignored.
    pub fn list(&self) -> Result<Listing> {
        let entries = fs::read_dir(&self.dir).map_err(io_err("read directory", &self.dir))?;
        let mut listing = Listing::default();
        for (index, entry) in entries.enumerate() {
            if index == LIST_ENTRIES_MAX {
                listing.problems.push(KeystoreError::Corrupt {
                    path: self.dir.clone(),
                    reason: format!("more than {LIST_ENTRIES_MAX} entries; the rest were not read"),
                });
                break;
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(source) => {
                    listing.problems.push(KeystoreError::Io {
                        action: "read directory",
                        path: self.dir.clone(),
                        source,
                    });
                    continue;
                }
            };
            let path = entry.path();
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            let is_key_file = path.extension().is_some_and(|e| e == KEY_FILE_EXTENSION);
            if file_name.starts_with('.') || !is_key_file {
                continue;
            }
            let stem = &file_name[..file_name.len() - KEY_FILE_EXTENSION.len() - 1];
            if validate_name(stem).is_err() {
                listing.problems.push(KeystoreError::Corrupt {
                    path,
                    reason: "the file name is not a valid key name".into(),
                });
                continue;
            }
            match self.info(stem) {
                Ok(info) => listing.keys.push(info),
                Err(e) => listing.problems.push(e),
            }
        }
        listing.keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listing)
    }

    /// Reads and validates key `name`'s file.
    fn read(&self, name: &str) -> Result<(Sealed, PathBuf)> {
        let path = self.path_of(name)?;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeystoreError::NotFound {
                    name: name.into(),
                    dir: self.dir.clone(),
                });
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let mut bytes = Vec::new();
        file.take(KEY_FILE_SIZE_MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err("read", &path))?;
        if bytes.len() as u64 > KEY_FILE_SIZE_MAX_BYTES {
            return Err(KeystoreError::Corrupt {
                path,
                reason: format!("larger than {KEY_FILE_SIZE_MAX_BYTES} bytes"),
            });
        }
        let sealed = Sealed::parse(&bytes, &path, name)?;
        Ok((sealed, path))
    }

    /// Writes `contents` to `path` atomically, failing if `path` exists.
    ///
    /// Why a hard link rather than `rename`: `rename` silently replaces an existing file, and a
    /// replaced key file is a lost key. `link` is atomic and fails with `EEXIST` instead.
    fn write_new(&self, name: &str, path: &Path, contents: &[u8]) -> Result<()> {
        let mut tag = [0u8; 8];
        crypto::fill_random(&mut tag)?;
        let tmp = self.dir.join(format!(
            ".{name}.{KEY_FILE_EXTENSION}.tmp-{}-{}",
            std::process::id(),
            hex::encode(tag)
        ));
        let written = write_private_file(&tmp, contents);
        let linked = written.and_then(|()| {
            fs::hard_link(&tmp, path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    KeystoreError::AlreadyExists {
                        name: name.into(),
                        path: path.to_owned(),
                    }
                } else {
                    KeystoreError::Io {
                        action: "link key file into",
                        path: path.to_owned(),
                        source,
                    }
                }
            })
        });
        // The temporary file holds only ciphertext, so a failed removal leaks nothing secret.
        let _ = fs::remove_file(&tmp);
        linked?;
        sync_dir(&self.dir)
    }
}

/// Creates `path` (which must not exist) readable by its owner only, writes and syncs it.
fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err("create", path))?;
    file.write_all(contents).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("sync", path))
}

/// Creates the key directory (mode 0700 on unix) and tightens an existing one to 0700.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder
            .create(dir)
            .map_err(io_err("create directory", dir))?;
        let metadata = fs::metadata(dir).map_err(io_err("inspect", dir))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err("restrict permissions of", dir))?;
        }
    }
    #[cfg(not(unix))]
    builder
        .create(dir)
        .map_err(io_err("create directory", dir))?;
    Ok(())
}

/// Makes a new directory entry durable (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
