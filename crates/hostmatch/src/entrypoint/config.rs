//! `/etc/hostmatch/entrypoint.toml`: the entrypoint's configuration.
//!
//! Parsing is strict: unknown keys and wrong types are errors that name the
//! file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// The fixed path of the configuration (the only one read in setuid mode).
pub const CONFIG_PATH: &str = "/etc/hostmatch/entrypoint.toml";

/// Which entries of a tree are re-owned when the account's ids change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChownHome {
    /// Entries owned by the account's old uid (or old gid), recursively.
    #[default]
    Changed,
    /// Every entry, recursively, whoever owns it.
    All,
    /// Like `changed`, but only the directory itself and its direct entries.
    Top,
    /// Nothing.
    None,
}

/// What to do when the entrypoint cannot gain root (no-new-privileges, a
/// nosuid mount, a missing setuid bit) and something had to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unprivileged {
    /// Explain and exit with an error.
    #[default]
    Fail,
    /// Explain and run the command unchanged, as the caller.
    Run,
}

/// How much the entrypoint tells on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    #[default]
    Warn,
    Info,
    Debug,
}

/// The configuration, with defaults for every key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The container account that takes the host user's ids.
    pub user: String,
    /// Its group (default: the user's primary group, or one named like the user).
    pub group: Option<String>,
    /// Create the account, its group and its home when missing.
    pub create_user: bool,
    /// Which entries of the home follow the account's new ids.
    pub chown_home: ChownHome,
    /// More trees re-owned like the home (`none` there means `changed`).
    pub chown_paths: Vec<PathBuf>,
    /// Root mode: the owner of this path gives the host ids.
    pub match_path: Option<PathBuf>,
    /// Passwordless sudo for the account.
    pub sudo: bool,
    /// Executables run as root, in name order, before the drop.
    pub hooks_dir: Option<PathBuf>,
    /// Stay PID 1: run the command as a child, forward signals, reap zombies.
    pub init: bool,
    pub log_level: LogLevel,
    /// What to do when privileges cannot be gained.
    pub unprivileged: Unprivileged,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            user: "app".into(),
            group: None,
            create_user: true,
            chown_home: ChownHome::Changed,
            chown_paths: Vec::new(),
            match_path: None,
            sudo: false,
            hooks_dir: None,
            init: false,
            log_level: LogLevel::Warn,
            unprivileged: Unprivileged::Fail,
        }
    }
}

impl Config {
    /// Parses the configuration; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            Error::Parse {
                path: path.to_path_buf(),
                line,
                msg: e.message().trim().to_string(),
            }
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |msg: String| Error::InvalidFile {
            path: path.to_path_buf(),
            msg,
        };
        if !valid_name(&self.user) {
            return Err(bad(format!(
                "user '{}' is not a valid account name",
                self.user
            )));
        }
        if let Some(g) = &self.group {
            if !valid_name(g) {
                return Err(bad(format!("group '{g}' is not a valid group name")));
            }
        }
        let abs = |what: &str, p: &Path| {
            if p.is_absolute() {
                Ok(())
            } else {
                Err(bad(format!(
                    "{what} '{}' must be an absolute path",
                    p.display()
                )))
            }
        };
        for p in &self.chown_paths {
            abs("chown_paths entry", p)?;
        }
        if let Some(p) = &self.match_path {
            abs("match_path", p)?;
        }
        if let Some(p) = &self.hooks_dir {
            abs("hooks_dir", p)?;
        }
        Ok(())
    }
}

/// Whether `name` is safe as an account or group name in colon files and
/// sudoers: starts with a letter or `_`, then letters, digits, `_`, `-`, `.`.
pub fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && name.len() <= 32
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(t: &str) -> Result<Config> {
        Config::parse(t, Path::new("/etc/hostmatch/entrypoint.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.user, "app");
        assert!(c.create_user);
        assert_eq!(c.chown_home, ChownHome::Changed);
    }

    #[test]
    fn every_key_parses() {
        let c = parse(
            r#"
user = "dev"
group = "devs"
create_user = false
chown_home = "top"
chown_paths = ["/opt/app", "/var/cache/app"]
match_path = "/work"
sudo = true
hooks_dir = "/etc/hostmatch/hooks.d"
init = true
log_level = "debug"
unprivileged = "run"
"#,
        )
        .unwrap();
        assert_eq!(c.user, "dev");
        assert_eq!(c.group.as_deref(), Some("devs"));
        assert!(!c.create_user && c.sudo && c.init);
        assert_eq!(c.chown_home, ChownHome::Top);
        assert_eq!(c.chown_paths.len(), 2);
        assert_eq!(c.match_path.as_deref(), Some(Path::new("/work")));
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.unprivileged, Unprivileged::Run);
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_line() {
        let e = parse("user = \"app\"\n\nshell = \"/bin/zsh\"\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/etc/hostmatch/entrypoint.toml:3:"), "{s}");
        assert!(s.contains("shell"), "{s}");
        assert!(e.is_bad_input());
    }

    #[test]
    fn wrong_type_is_an_error_naming_the_line() {
        let e = parse("user = \"app\"\nsudo = \"yes\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/hostmatch/entrypoint.toml:2:"),
            "{e}"
        );
        let e = parse("chown_home = \"some\"\n").unwrap_err();
        assert!(e.to_string().contains(":1:"), "{e}");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let e = parse("user = \"app\"\ninit = \n").unwrap_err();
        assert!(e.to_string().contains("entrypoint.toml:2:"), "{e}");
    }

    #[test]
    fn names_that_could_break_colon_files_or_sudoers_are_refused() {
        for bad in ["a:b", "", "1abc", "a b", "a,b", "ALL ALL=(ALL)", "a\nb"] {
            let t = format!("user = {bad:?}\n");
            assert!(parse(&t).is_err(), "{bad:?} accepted");
        }
        assert!(parse("group = \"x:y\"\n").is_err());
    }

    #[test]
    fn relative_paths_are_refused() {
        assert!(parse("match_path = \"work\"\n").is_err());
        assert!(parse("chown_paths = [\"opt\"]\n").is_err());
        assert!(parse("hooks_dir = \"hooks\"\n").is_err());
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn valid_users_round_trip(user in "[a-z_][a-z0-9_.-]{0,31}", sudo in any::<bool>(), init in any::<bool>()) {
            let c = parse(&format!("user = {user:?}\nsudo = {sudo}\ninit = {init}\n")).unwrap();
            prop_assert_eq!(c.user, user);
            prop_assert_eq!(c.sudo, sudo);
            prop_assert_eq!(c.init, init);
        }

        #[test]
        fn unknown_keys_always_fail_on_their_line(pre in 0usize..5, key in "[a-z]{3,10}_x") {
            let text = format!("{}{key} = 1\n", "\n".repeat(pre));
            let e = parse(&text).unwrap_err().to_string();
            let want = format!(":{}:", pre + 1);
            prop_assert!(e.contains(&want), "{}", e);
        }
    }
}
