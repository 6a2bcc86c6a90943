//! `cairn keys`: create, list, show, import and export password-encrypted keys, and the password
//! sources every command that signs shares.
//!
//! Secrets never come from argv (visible in `ps` and shell history): passwords come from a file,
//! an environment variable or a terminal prompt, and imported secrets from a file.

use anyhow::{Context, bail};
use cairn_keystore::{KeyInfo, KeyKind, Keystore, KeystoreError, Zeroizing};
use cairn_types::PrivateKey;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

/// Environment variable read for the password when no other source is named.
pub const PASSWORD_ENV_DEFAULT: &str = "CAIRN_PASSWORD";
/// Largest password file read; a bigger file is almost certainly the wrong file.
const PASSWORD_FILE_SIZE_MAX_BYTES: u64 = 64 * 1024;
/// Largest secret file read (a hex secret is 64 characters).
const SECRET_FILE_SIZE_MAX_BYTES: u64 = 4 * 1024;
/// Below this many characters a new password draws a warning.
const PASSWORD_LEN_MIN_RECOMMENDED: usize = 12;

/// Where the keystore password comes from (first match wins): `--password-file`, then the
/// environment variable (`--password-env`, default `CAIRN_PASSWORD`), then a terminal prompt.
#[derive(Args, Clone, Debug, Default)]
pub struct PasswordArgs {
    /// Read the keystore password from the first line of this file.
    #[arg(long, value_name = "PATH", global = true)]
    pub password_file: Option<PathBuf>,
    /// Read the keystore password from this environment variable [default: CAIRN_PASSWORD, when set].
    #[arg(long, value_name = "VAR", global = true)]
    pub password_env: Option<String>,
}

impl PasswordArgs {
    /// Returns the password; `confirm` asks twice when prompting (for new keys).
    pub fn read(&self, prompt: &str, confirm: bool) -> anyhow::Result<String> {
        if let Some(path) = &self.password_file {
            return read_password_file(path);
        }
        let var = self.password_env.as_deref().unwrap_or(PASSWORD_ENV_DEFAULT);
        match std::env::var(var) {
            Ok(password) if password.is_empty() => {
                bail!("environment variable {var} is set but empty")
            }
            Ok(password) => return Ok(password),
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!("environment variable {var} is not valid UTF-8")
            }
            Err(std::env::VarError::NotPresent) if self.password_env.is_some() => {
                bail!("--password-env {var}: environment variable {var} is not set")
            }
            Err(std::env::VarError::NotPresent) => {}
        }
        if !std::io::stdin().is_terminal() {
            bail!(
                "no password: pass --password-file FILE or set {PASSWORD_ENV_DEFAULT} \
                 (stdin is not a terminal, so cannot prompt)"
            );
        }
        prompt_password(prompt, confirm)
    }
}

fn read_password_file(path: &Path) -> anyhow::Result<String> {
    warn_if_readable_by_others(path);
    let text = read_limited(path, PASSWORD_FILE_SIZE_MAX_BYTES, "password file")?;
    let line = text.split('\n').next().unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        bail!("password file {} has an empty first line", path.display());
    }
    Ok(line.to_owned())
}

fn prompt_password(prompt: &str, confirm: bool) -> anyhow::Result<String> {
    let password = rpassword::prompt_password(format!("{prompt}: "))
        .context("cannot read the password from the terminal")?;
    if password.is_empty() {
        bail!("empty password");
    }
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("repeat the password: ")
                .context("cannot read the password from the terminal")?,
        );
        if *again != password {
            bail!("the passwords do not match; nothing was changed");
        }
    }
    Ok(password)
}

/// Reads a small text file whole, refusing files over `max_bytes`.
fn read_limited(path: &Path, max_bytes: u64, what: &str) -> anyhow::Result<Zeroizing<String>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {what} {}", path.display()))?;
    let mut text = Zeroizing::new(String::new());
    file.take(max_bytes + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {what} {} as UTF-8 text", path.display()))?;
    if text.len() as u64 > max_bytes {
        bail!("{what} {} is larger than {max_bytes} bytes", path.display());
    }
    Ok(text)
}

/// Secret-bearing files should be private; say so rather than refuse (the user may know better).
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "warning: {} is readable by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// `cairn keys ...`
#[derive(Subcommand, Clone, Debug)]
pub enum KeysCommand {
    /// Create a new key, encrypted under a password you choose.
    New {
        /// Key name: 1-64 characters from A-Z a-z 0-9 _ -
        name: String,
        /// Make a hot key (for routine signing, linked to a cold key) instead of a cold key.
        #[arg(long)]
        hot: bool,
    },
    /// List the keys in the keystore.
    List,
    /// Show a key's public key, kind and file.
    Show {
        /// Key name.
        name: String,
    },
    /// Import an existing secret key from a file holding it as hex.
    Import {
        /// Name for the imported key.
        name: String,
        /// Import as a hot key instead of a cold key.
        #[arg(long)]
        hot: bool,
        /// File whose content is the 32-byte secret key in hex (never passed on the command line).
        #[arg(long, value_name = "PATH")]
        secret_file: PathBuf,
    },
    /// Print a key's secret in hex. Anyone who sees it controls the key.
    Export {
        /// Key name.
        name: String,
        /// Confirms you understand the secret will be printed in plaintext.
        #[arg(long)]
        yes_i_understand: bool,
    },
}

/// Runs a `cairn keys` subcommand against the keystore in `keystore_dir`.
pub fn run(
    cmd: KeysCommand,
    keystore_dir: &Path,
    password: &PasswordArgs,
    json: bool,
) -> anyhow::Result<()> {
    let keystore = open(keystore_dir)?;
    match cmd {
        KeysCommand::New { name, hot } => {
            let kind = kind_of(hot);
            ensure_free(&keystore, &name)?;
            let password = new_password(password, &name, kind)?;
            let info = keystore.generate(&name, kind, &password)?;
            print_created(&info, "Created", json);
        }
        KeysCommand::List => list(&keystore, json)?,
        KeysCommand::Show { name } => {
            let info = keystore.info(&name).map_err(|e| with_hint(e, &keystore))?;
            if json {
                println!("{}", info_json(&info));
            } else {
                print_info(&info);
            }
        }
        KeysCommand::Import {
            name,
            hot,
            secret_file,
        } => {
            let kind = kind_of(hot);
            ensure_free(&keystore, &name)?;
            warn_if_readable_by_others(&secret_file);
            let text = read_limited(&secret_file, SECRET_FILE_SIZE_MAX_BYTES, "secret file")?;
            let secret = cairn_keystore::secret_from_hex(&text)
                .with_context(|| format!("in {}", secret_file.display()))?;
            let password = new_password(password, &name, kind)?;
            let info = keystore.import(&name, kind, &secret, &password)?;
            print_created(&info, "Imported", json);
            eprintln!(
                "The plaintext secret is still in {}: delete it once you have a backup.",
                secret_file.display()
            );
        }
        KeysCommand::Export {
            name,
            yes_i_understand,
        } => export(&keystore, &name, password, yes_i_understand, json)?,
    }
    Ok(())
}

/// The default keystore directory: `$CAIRN_HOME/keys`, else `~/.cairn/keys`.
pub fn default_keystore_dir() -> PathBuf {
    match std::env::var_os("CAIRN_HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join("keys"),
        _ => std::env::home_dir()
            .unwrap_or_default()
            .join(".cairn")
            .join("keys"),
    }
}

/// Unlocks key `name` for signing, prompting for (or reading) its password.
pub fn load_signer(
    keystore_dir: &Path,
    name: &str,
    password: &PasswordArgs,
) -> anyhow::Result<PrivateKey> {
    let keystore = open(keystore_dir)?;
    // Fails on a missing or corrupt key before asking for a password.
    keystore.info(name).map_err(|e| with_hint(e, &keystore))?;
    let password = Zeroizing::new(password.read(&format!("password for key '{name}'"), false)?);
    Ok(keystore.unlock(name, &password)?)
}

fn open(dir: &Path) -> anyhow::Result<Keystore> {
    Keystore::open(dir).with_context(|| format!("cannot open the keystore at {}", dir.display()))
}

fn kind_of(hot: bool) -> KeyKind {
    if hot { KeyKind::Hot } else { KeyKind::Cold }
}

/// Checks the name before asking for a password twice.
fn ensure_free(keystore: &Keystore, name: &str) -> anyhow::Result<()> {
    let path = keystore.path_of(name)?;
    if path.exists() {
        return Err(KeystoreError::AlreadyExists {
            name: name.into(),
            path,
        }
        .into());
    }
    Ok(())
}

fn new_password(
    password: &PasswordArgs,
    name: &str,
    kind: KeyKind,
) -> anyhow::Result<Zeroizing<String>> {
    let password =
        Zeroizing::new(password.read(&format!("new password for {kind} key '{name}'"), true)?);
    if password.chars().count() < PASSWORD_LEN_MIN_RECOMMENDED {
        eprintln!(
            "warning: the password is shorter than {PASSWORD_LEN_MIN_RECOMMENDED} characters; \
             a stolen key file can be cracked offline, so prefer a long passphrase"
        );
    }
    Ok(password)
}

/// Adds what to do next to a missing-key error.
fn with_hint(err: KeystoreError, keystore: &Keystore) -> anyhow::Error {
    match &err {
        KeystoreError::NotFound { name, .. } => anyhow::anyhow!(
            "{err}\nhint: `cairn keys list` shows the keys in {}; `cairn keys new {name}` creates one",
            keystore.dir().display()
        ),
        _ => err.into(),
    }
}

fn list(keystore: &Keystore, json: bool) -> anyhow::Result<()> {
    let listing = keystore.list()?;
    if json {
        let keys: Vec<_> = listing.keys.iter().map(info_json).collect();
        let problems: Vec<_> = listing.problems.iter().map(|e| e.to_string()).collect();
        println!("{}", json!({ "keys": keys, "problems": problems }));
    } else if listing.keys.is_empty() {
        println!(
            "No keys in {}. Create one: cairn keys new NAME",
            keystore.dir().display()
        );
    } else {
        let width = listing.keys.iter().map(|k| k.name.len()).max().unwrap_or(0);
        println!("{:width$}  KIND  PUBLIC KEY", "NAME");
        for key in &listing.keys {
            println!(
                "{:width$}  {:4}  {}",
                key.name,
                key.kind.as_str(),
                cairn_types::to_hex(&key.public_key)
            );
        }
    }
    for problem in &listing.problems {
        eprintln!("warning: {problem}");
    }
    Ok(())
}

fn export(
    keystore: &Keystore,
    name: &str,
    password: &PasswordArgs,
    yes_i_understand: bool,
    json: bool,
) -> anyhow::Result<()> {
    if !yes_i_understand {
        bail!(
            "`keys export` prints the secret key of '{name}' in plaintext: anyone who sees it \
             (screen, terminal scrollback, logs) controls the key. Re-run with --yes-i-understand"
        );
    }
    let info = keystore.info(name).map_err(|e| with_hint(e, keystore))?;
    let password = Zeroizing::new(password.read(&format!("password for key '{name}'"), false)?);
    let secret = keystore.export(name, &password)?;
    let secret_hex = cairn_keystore::secret_to_hex(&secret);
    eprintln!(
        "warning: printing the SECRET key of '{name}'. Do not paste it anywhere you do not \
         fully trust; clear your terminal afterwards."
    );
    if json {
        let mut value = info_json(&info);
        value["secret_key"] = json!(secret_hex.as_str());
        println!("{value}");
    } else {
        println!("{}", secret_hex.as_str());
    }
    Ok(())
}

fn info_json(info: &KeyInfo) -> serde_json::Value {
    json!({
        "name": info.name,
        "kind": info.kind.as_str(),
        "public_key": cairn_types::to_hex(&info.public_key),
        "path": info.path.display().to_string(),
    })
}

fn print_info(info: &KeyInfo) {
    println!("name:       {}", info.name);
    println!("kind:       {}", info.kind);
    println!("public key: {}", cairn_types::to_hex(&info.public_key));
    println!("file:       {}", info.path.display());
}

fn print_created(info: &KeyInfo, verb: &str, json: bool) {
    let public_key = cairn_types::to_hex(&info.public_key);
    if json {
        println!("{}", info_json(info));
        return;
    }
    println!("{verb} {} key '{}'", info.kind, info.name);
    println!("public key: {public_key}");
    println!("file:       {}", info.path.display());
    println!();
    println!(
        "Back up the file (it is encrypted) and, separately, the password: \
         without the password the key cannot be recovered."
    );
    match info.kind {
        KeyKind::Cold => println!(
            "Next, fund it: cairn tx transfer --from FUNDED_KEY --to {public_key} --amount AMOUNT"
        ),
        KeyKind::Hot => println!(
            "Next, link it to a cold key: cairn tx link-hot-key --from COLD_KEY --hot {}",
            info.name
        ),
    }
}
