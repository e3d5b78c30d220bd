//! The apps file of `--apps`: one `[[apps]]` entry per mini-program.
//!
//! ```toml
//! [[apps]]
//! appid = "wx1111111111111111"
//! name = "商城"
//! secret_env = "SHOP_SECRET"   # or secret_file = "PATH", or secret = "..."
//! default = true               # optional: logins that name no app
//! risk_check = true            # optional: WeChat's risk rank of new users
//! risk_refuse_at = 4           # optional, with risk_check: refuse from this rank
//! content_check = "on"         # optional: "on" (the default) or "off"
//! push_token = "..."           # optional: message push, for image checks
//! push_aes_key = "..."         # optional: its EncodingAESKey (safe mode)
//! ```
//!
//! Every error names the file and the entry, and never shows a secret.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

use crate::config::{
    check_appid, parse_content_check, push_settings, AppSecret, AppSettings, RiskPolicy,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    #[serde(default)]
    apps: Vec<AppEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    appid: String,
    name: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    risk_check: bool,
    risk_refuse_at: Option<u8>,
    content_check: Option<String>,
    push_token: Option<String>,
    push_aes_key: Option<String>,
}

/// Reads the apps of `path`. Secrets named by `secret_env` come from `env`,
/// so that tests can pass their own.
pub fn read(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Vec<AppSettings>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--apps / WXLOGIN_APPS: cannot read {shown}: {e}"))?;
    parse(&text, &shown.to_string(), path.parent(), env)
}

/// Parses the text of an apps file called `file`; relative `secret_file`
/// paths are read from `dir`.
pub fn parse(
    text: &str,
    file: &str,
    dir: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<AppSettings>, String> {
    // toml's message shows the offending line, which may hold a secret:
    // only its position is kept.
    let parsed: AppsFile = toml::from_str(text).map_err(|e| {
        let position = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" at line {line}")
            })
            .unwrap_or_default();
        format!(
            "{file}: not a valid apps file{position}: {}",
            first_line(e.message())
        )
    })?;
    if parsed.apps.is_empty() {
        return Err(format!(
            "{file}: no [[apps]] entry; list each mini-program as an [[apps]] entry with its appid and secret"
        ));
    }
    parsed
        .apps
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let at = format!("{file}: [[apps]] entry {} ({})", i + 1, entry.appid);
            entry
                .into_settings(dir, &env)
                .map_err(|e| format!("{at}: {e}"))
        })
        .collect()
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

impl AppEntry {
    fn into_settings(
        self,
        dir: Option<&Path>,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<AppSettings, String> {
        check_appid(&self.appid)?;
        let secret = match (self.secret_env, self.secret_file, self.secret) {
            (Some(var), None, None) => env(&var)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("secret_env names {var}, which is not set or is empty"))?,
            (None, Some(file), None) => {
                let path = dir.map_or_else(|| Path::new(&file).to_owned(), |d| d.join(&file));
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!("cannot read secret_file {}: {e}", path.display())
                })?;
                let secret = text.trim().to_owned();
                if secret.is_empty() {
                    return Err(format!("secret_file {} is empty", path.display()));
                }
                secret
            }
            (None, None, Some(secret)) if !secret.trim().is_empty() => secret,
            (None, None, Some(_)) => return Err("secret is empty".into()),
            (None, None, None) => {
                return Err(
                    "no secret: give one of secret_env = \"VAR\", secret_file = \"PATH\" or secret = \"...\""
                        .into(),
                )
            }
            _ => {
                return Err(
                    "more than one secret: give exactly one of secret_env, secret_file and secret"
                        .into(),
                )
            }
        };
        let name = self
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if name.as_ref().is_some_and(|n| n.chars().count() > 64) {
            return Err("name is longer than 64 characters".into());
        }
        let risk = RiskPolicy::new(self.risk_check, self.risk_refuse_at)
            .map_err(|e| format!("risk_refuse_at: {e}"))?;
        let content_check = self
            .content_check
            .as_deref()
            .map_or(Ok(true), parse_content_check)?;
        let push = push_settings(self.push_token.as_deref(), self.push_aes_key.as_deref())?;
        Ok(AppSettings {
            appid: self.appid,
            name,
            secret: AppSecret::Wechat(SecretString::from(secret)),
            default: self.default,
            risk,
            content_check,
            push,
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "SHOP_SECRET").then(|| "shop-secret".to_owned())
    }

    fn parse_str(text: &str) -> Result<Vec<AppSettings>, String> {
        parse(text, "apps.toml", None, env)
    }

    #[test]
    fn entries_become_apps() {
        let apps = parse_str(
            r#"
            [[apps]]
            appid = "wx1111111111111111"
            name = "商城"
            secret_env = "SHOP_SECRET"
            default = true

            [[apps]]
            appid = "wx2222222222222222"
            secret = "inline"
            risk_check = true
            risk_refuse_at = 4
            "#,
        )
        .unwrap();
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].risk, RiskPolicy::default());
        assert_eq!(apps[1].risk, RiskPolicy::new(true, Some(4)).unwrap());
        assert_eq!(apps[0].display_name(), "商城");
        assert!(apps[0].default && !apps[1].default);
        assert_eq!(apps[1].display_name(), "wx2222222222222222");
        let AppSecret::Wechat(secret) = &apps[0].secret else {
            panic!("a real app")
        };
        assert_eq!(secret.expose_secret(), "shop-secret");
    }

    #[test]
    fn mistakes_name_the_file_and_the_entry_and_hide_secrets() {
        let cases = [
            ("[[apps]]\nappid = \"wx1\"\nsecret = \"hidden-1\"\n", "not an AppID"),
            ("[[apps]]\nappid = \"wx1111111111111111\"\n", "no secret"),
            (
                "[[apps]]\nappid = \"wx1111111111111111\"\nsecret = \"hidden-2\"\nsecret_env = \"SHOP_SECRET\"\n",
                "more than one secret",
            ),
            (
                "[[apps]]\nappid = \"wx1111111111111111\"\nsecret_env = \"NOT_SET\"\n",
                "NOT_SET, which is not set",
            ),
            (
                "[[apps]]\nappid = \"wx1111111111111111\"\nsecret_file = \"/nonexistent/secret\"\n",
                "cannot read secret_file /nonexistent/secret",
            ),
            (
                "[[apps]]\nappid = \"wx1111111111111111\"\nsecret = \"hidden-3\"\nsecrett = \"x\"\n",
                "at line 4",
            ),
            ("[[apps]]\nappid = \"wx1111111111111111\nsecret = \"hidden-4\"\n", "not a valid apps file"),
            ("", "no [[apps]] entry"),
            (
                &*format!("[[apps]]\nappid = \"wx1111111111111111\"\nsecret = \"hidden-5\"\nname = \"{}\"\n", "名".repeat(65)),
                "name is longer than 64 characters",
            ),
            (
                "[[apps]]\nappid = \"wx1111111111111111\"\nsecret = \"hidden-6\"\nrisk_check = true\nrisk_refuse_at = 5\n",
                "risk_refuse_at: the risk rank to refuse at must be 1 to 4",
            ),
            (
                "[[apps]]\nappid = \"wx1111111111111111\"\nsecret = \"hidden-7\"\nrisk_refuse_at = 2\n",
                "needs the risk check on",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_str(text).unwrap_err();
            assert!(err.starts_with("apps.toml"), "{err}");
            assert!(err.contains(expected), "{err} lacks {expected}");
            assert!(!err.contains("hidden"), "{err} shows a secret");
        }
        let err = parse_str("[[apps]]\nappid = \"wx1\"\nsecret = \"s\"\n").unwrap_err();
        assert!(err.contains("entry 1 (wx1)"), "{err}");
    }
}
