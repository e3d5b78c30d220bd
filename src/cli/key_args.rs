//! The keys a command is given: the data key that encrypts personal data
//! in the database, the older ones a rotation still reads, and the secret
//! key both `serve` and the data key may derive from.

use clap::Args;

use crate::config::{ConfigError, MIN_SECRET_KEY_BYTES};

/// Refuses a secret key too short to sign cookies or derive keys from,
/// without printing it.
pub fn check_secret_key(key: &str) -> Result<(), ConfigError> {
    if key.len() < MIN_SECRET_KEY_BYTES {
        return Err(ConfigError::Invalid(format!(
            "--secret-key / WXLOGIN_SECRET_KEY is {} bytes long; it must be at least {MIN_SECRET_KEY_BYTES} (try `openssl rand -base64 64`)",
            key.len()
        )));
    }
    Ok(())
}

/// The keys that encrypt personal data in the database.
#[derive(Debug, Clone, Args)]
pub struct DataKeyArgs {
    /// Key that encrypts session keys, phone numbers and WeChat access
    /// tokens in the database: 32 random bytes in base64 or hex (e.g.
    /// `openssl rand -base64 32`), the same on every node. Without it, a key
    /// derived from --secret-key. Never printed or logged.
    #[arg(long, env = "WXLOGIN_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<String>,

    /// Earlier data keys, comma-separated, that still open what they
    /// encrypted: give the previous key here while `wxlogin rotate-data-key`
    /// re-encrypts under the new one. A key derived from --secret-key is
    /// always among them when --data-key is set.
    #[arg(
        long,
        env = "WXLOGIN_OLD_DATA_KEYS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub old_data_keys: Vec<String>,
}

impl DataKeyArgs {
    /// The data keys: `--data-key`, else one derived from the secret key,
    /// else (with `dev` only) the fixed key of development mode.
    pub fn resolve(
        &self,
        secret_key: Option<&str>,
        dev: bool,
    ) -> Result<crate::domain::data_keys::DataKeys, ConfigError> {
        use crate::domain::data_keys::{DataKey, DataKeys};
        // The same rule as `serve`'s: a command must not derive a key that
        // no server could hold.
        let derived = match secret_key.filter(|k| !k.is_empty()) {
            Some(k) => {
                check_secret_key(k)?;
                Some(DataKey::derive(k.as_bytes()))
            }
            None => None,
        };
        let given = self
            .data_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                DataKey::parse(k)
                    .map_err(|e| ConfigError::Invalid(format!("--data-key / WXLOGIN_DATA_KEY {e}")))
            })
            .transpose()?;
        let mut older = Vec::new();
        for (n, k) in self.old_data_keys.iter().enumerate() {
            if k.trim().is_empty() {
                continue;
            }
            older.push(DataKey::parse(k).map_err(|e| {
                ConfigError::Invalid(format!(
                    "--old-data-keys / WXLOGIN_OLD_DATA_KEYS: key {} {e}",
                    n + 1
                ))
            })?);
        }
        let current = match (given, derived) {
            (Some(given), derived) => {
                older.extend(derived);
                given
            }
            (None, Some(derived)) => derived,
            (None, None) if dev => DataKey::derive(DEV_DATA_KEY_SOURCE),
            (None, None) => {
                return Err(ConfigError::Invalid(
                    "missing --data-key / WXLOGIN_DATA_KEY (or --secret-key / WXLOGIN_SECRET_KEY to derive it from): session keys and phone numbers are encrypted in the database".into(),
                ))
            }
        };
        Ok(DataKeys::new(current, older))
    }
}

/// What development mode derives its data key from, when it has no secret
/// key: fixed, so that a dev database stays readable across restarts. It
/// protects nothing, as dev mode does not.
const DEV_DATA_KEY_SOURCE: &[u8] = b"wxlogin --dev without a secret key";

/// The keys of a command that reads or writes personal data.
#[derive(Debug, Clone, Args)]
pub struct CommandKeyArgs {
    /// The server's --secret-key, from which the data key is derived when
    /// --data-key is not set.
    #[arg(long, env = "WXLOGIN_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    #[command(flatten)]
    pub data_keys: DataKeyArgs,
}

impl CommandKeyArgs {
    pub fn resolve(&self, dev: bool) -> Result<crate::domain::data_keys::DataKeys, ConfigError> {
        self.data_keys.resolve(self.secret_key.as_deref(), dev)
    }
}
