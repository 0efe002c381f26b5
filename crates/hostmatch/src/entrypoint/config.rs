//! `/etc/hostmatch/entrypoint.toml`: the entrypoint's configuration.
//!
//! Parsing is strict: unknown keys, wrong types and values the entrypoint
//! refuses (account names that are not valid names or are sudoers keywords,
//! re-own paths of system trees) are errors that name the file and line.

use std::path::{Component, Path, PathBuf};

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

/// What root mode does when `match_path` gives no host user (nothing is
/// mounted there, or it is owned by root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Refuse to start, with one line saying why.
    #[default]
    Fail,
    /// Run the command as root, untouched.
    Root,
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
    /// `match_path` must be a mount point (the bind-mounted host directory),
    /// so that the workload cannot replace or remove it.
    pub match_path_must_be_mount: bool,
    /// What to do when `match_path` gives no host user.
    pub match_path_fallback: Fallback,
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
            match_path_must_be_mount: true,
            match_path_fallback: Fallback::Fail,
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
        if let Err((key, index, msg)) = cfg.check() {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: key_line(text, key, index),
                msg,
            });
        }
        Ok(cfg)
    }

    /// The first value the entrypoint refuses: (key, index in an array, why).
    fn check(&self) -> std::result::Result<(), (&'static str, usize, String)> {
        check_name(&self.user).map_err(|why| ("user", 0, format!("user '{}' {why}", self.user)))?;
        if let Some(g) = &self.group {
            check_name(g).map_err(|why| ("group", 0, format!("group '{g}' {why}")))?;
        }
        for (i, p) in self.chown_paths.iter().enumerate() {
            check_tree(p).map_err(|why| {
                let msg = format!("chown_paths entry '{}' {why}", p.display());
                ("chown_paths", i, msg)
            })?;
        }
        if let Some(p) = &self.match_path {
            check_absolute(p).map_err(|why| {
                (
                    "match_path",
                    0,
                    format!("match_path '{}' {why}", p.display()),
                )
            })?;
        }
        if let Some(p) = &self.hooks_dir {
            check_absolute(p)
                .map_err(|why| ("hooks_dir", 0, format!("hooks_dir '{}' {why}", p.display())))?;
        }
        if self.match_path_fallback == Fallback::Root && !self.match_path_must_be_mount {
            return Err((
                "match_path_fallback",
                0,
                "match_path_fallback = \"root\" needs match_path_must_be_mount = true: \
                 otherwise the workload could remove match_path and make the next start run \
                 as root"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The line (1-based) of `key` (of its `index`th element for an array) in
/// the configuration text; 1 when it cannot be found.
fn key_line(text: &str, key: &str, index: usize) -> usize {
    type Span = Option<toml::Spanned<toml::Value>>;
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Spans {
        user: Span,
        group: Span,
        chown_paths: Option<Vec<toml::Spanned<toml::Value>>>,
        match_path: Span,
        hooks_dir: Span,
        match_path_fallback: Span,
    }
    let Ok(s) = toml::from_str::<Spans>(text) else {
        return 1;
    };
    let span = match key {
        "user" => s.user.map(|v| v.span()),
        "group" => s.group.map(|v| v.span()),
        "chown_paths" => s.chown_paths.and_then(|v| v.get(index).map(|v| v.span())),
        "match_path" => s.match_path.map(|v| v.span()),
        "hooks_dir" => s.hooks_dir.map(|v| v.span()),
        "match_path_fallback" => s.match_path_fallback.map(|v| v.span()),
        _ => None,
    };
    span.map_or(1, |r| {
        text[..r.start.min(text.len())].matches('\n').count() + 1
    })
}

/// Sudoers words that shadow's rules let through as names (the aliases'
/// declarations); names written like an alias (`ALL`, `NOPASSWD`, `APP`) are
/// refused by [`check_name`] as a class.
const SUDOERS_WORDS: &[&str] = &[
    "Defaults",
    "Host_Alias",
    "User_Alias",
    "Runas_Alias",
    "Cmnd_Alias",
    "Cmd_Alias",
];

/// Whether `name` may be an account or group name here: shadow's portable
/// rule (`[a-z_][a-z0-9_-]*`, at most 32; see [`crate::grouplink::valid_name`]),
/// without the trailing `$` of machine accounts, and never a sudoers keyword
/// or alias (the name is written into `/etc/sudoers.d/hostmatch`, where
/// `ALL ALL=(ALL:ALL) NOPASSWD: ALL` would give everyone root).
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let alias_like = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
    if alias_like || SUDOERS_WORDS.contains(&name) {
        return Err(
            "is a sudoers keyword or written like a sudoers alias (ALL, NOPASSWD, ...): \
             sudoers would not read it as an account"
                .into(),
        );
    }
    if !crate::grouplink::valid_name(name) || name.ends_with('$') {
        return Err(
            "is not a valid name: lowercase letters, digits, '_' and '-', starting with a \
             letter or '_', at most 32 characters (shadow's rules)"
                .into(),
        );
    }
    Ok(())
}

/// Trees no re-own may start in, hold or reach into: the system's own files
/// (the entrypoint's binary in /usr/local/bin, its configuration and state
/// in /etc/hostmatch and its marker in /dev are inside them), and root's home.
pub const SYSTEM_TREES: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
    "/run", "/sbin", "/sys", "/usr",
];

/// Whether `p` is an absolute path without `..`.
fn check_absolute(p: &Path) -> std::result::Result<(), String> {
    if !p.is_absolute() {
        return Err("must be an absolute path".into());
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err("must not hold '..'".into());
    }
    Ok(())
}

/// Whether `p` may be the root of a re-own: absolute, without `..`, not `/`,
/// and neither inside nor above one of the [`SYSTEM_TREES`].
pub fn check_tree(p: &Path) -> std::result::Result<(), String> {
    check_absolute(p)?;
    if p.components().all(|c| c == Component::RootDir) {
        return Err("is the whole filesystem".into());
    }
    for sys in SYSTEM_TREES {
        let sys = Path::new(sys);
        if p.starts_with(sys) {
            return Err(format!("is inside {}, a system tree", sys.display()));
        }
        if sys.starts_with(p) {
            return Err(format!("holds {}, a system tree", sys.display()));
        }
    }
    Ok(())
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
    fn sudoers_keywords_and_alias_like_names_are_refused_naming_the_line() {
        for bad in [
            "ALL",
            "Defaults",
            "NOPASSWD",
            "APP_1",
            "User_Alias",
            "Cmnd_Alias",
        ] {
            let e = parse(&format!("sudo = true\nuser = {bad:?}\n")).unwrap_err();
            let s = e.to_string();
            assert!(s.starts_with("/etc/hostmatch/entrypoint.toml:2: "), "{s}");
            assert!(s.contains("sudoers"), "{s}");
            assert!(e.is_bad_input());
        }
        let e = parse("group = \"ALL\"\n").unwrap_err().to_string();
        assert!(e.contains(":1: group 'ALL'"), "{e}");
    }

    #[test]
    fn names_outside_shadows_rules_are_refused() {
        for bad in ["App", "a.b", "adm$", "-x", &"a".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["app", "_svc", "dev-1", "a_b", &"a".repeat(32)] {
            assert!(check_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn system_trees_and_the_root_are_refused_as_chown_paths_naming_the_line() {
        for (paths, line, why) in [
            ("[\"/\"]", 1, "whole filesystem"),
            ("[\"/opt/app\",\n \"/usr\"]", 2, "inside /usr"),
            ("[\"/usr/local/bin\"]", 1, "inside /usr"),
            ("[\"/etc/hostmatch\"]", 1, "inside /etc"),
            ("[\"/lib64/x\"]", 1, "inside /lib64"),
            ("[\"/dev\"]", 1, "inside /dev"),
            ("[\"/root\"]", 1, "inside /root"),
            ("[\"/home/../etc\"]", 1, ".."),
        ] {
            let e = parse(&format!("chown_paths = {paths}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("entrypoint.toml:{line}: ")),
                "{paths}: {e}"
            );
            assert!(e.contains(why), "{paths}: {e}");
        }
        assert!(
            parse("chown_paths = [\"/var/www\", \"/opt/app\", \"/srv\", \"/home/app\"]\n").is_ok()
        );
        assert!(check_tree(Path::new("/libx")).is_ok(), "not /lib");
    }

    #[test]
    fn match_path_fallback_root_needs_a_mount_point() {
        let c = parse("match_path = \"/work\"\nmatch_path_fallback = \"root\"\n").unwrap();
        assert!(c.match_path_must_be_mount);
        assert_eq!(c.match_path_fallback, Fallback::Root);
        let e = parse("match_path_must_be_mount = false\nmatch_path_fallback = \"root\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: match_path_fallback"), "{e}");
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
        fn valid_users_round_trip(user in "[a-z_][a-z0-9_-]{0,31}", sudo in any::<bool>(), init in any::<bool>()) {
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
