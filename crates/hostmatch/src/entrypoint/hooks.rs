//! Hooks: the image author's executables run as root before the drop.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::plan::Target;
use super::{check_trusted, Mode, HOOK_PATH};
use crate::sys::slate::clean_slate;
use crate::{Error, Result};

/// The executables of `dir` (regular files with an execute bit, names not
/// starting with `.`), in name order. With `trusted_only` each must be
/// root-owned and not group/other-writable (and so must the directory).
pub fn list_hooks(dir: &Path, trusted_only: bool) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    if trusted_only {
        check_trusted(dir)?;
    }
    let mut hooks = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, e))?;
        if ent.file_name().as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let p = ent.path();
        let m = fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
        if !m.file_type().is_file() || m.mode() & 0o111 == 0 {
            continue;
        }
        if trusted_only {
            check_trusted(&p)?;
        }
        hooks.push(p);
    }
    hooks.sort();
    Ok(hooks)
}

/// The environment of hooks: a fixed PATH, HOME=/root and HOSTMATCH_*
/// describing the result. Nothing of the caller's.
pub fn hook_env(mode: &Mode, target: Option<&Target>) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), HOOK_PATH.to_string()),
        ("HOME".into(), "/root".into()),
        ("HOSTMATCH_MODE".into(), mode.name().into()),
    ];
    match target {
        Some(t) => env.extend([
            ("HOSTMATCH_USER".into(), t.user.clone()),
            ("HOSTMATCH_GROUP".into(), t.group.clone()),
            ("HOSTMATCH_UID".into(), t.uid.to_string()),
            ("HOSTMATCH_GID".into(), t.gid.to_string()),
            (
                "HOSTMATCH_GROUPS".into(),
                t.groups
                    .iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("HOSTMATCH_HOME".into(), t.home.clone()),
        ]),
        None => env.extend([
            ("HOSTMATCH_USER".into(), "root".into()),
            ("HOSTMATCH_UID".into(), "0".into()),
            ("HOSTMATCH_GID".into(), "0".into()),
        ]),
    }
    env
}

/// Runs each hook as root with only `env`, cwd `/`, stdin from /dev/null,
/// on a clean slate whatever the entrypoint inherited from its caller: only
/// fds 0-2, default signal dispositions, no blocked signal, a session of
/// its own without a controlling terminal. The first failure stops the start.
pub fn run_hooks(hooks: &[PathBuf], env: &[(String, String)]) -> Result<()> {
    for h in hooks {
        let mut cmd = Command::new(h);
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(std::process::Stdio::null());
        clean_slate(&mut cmd);
        let st = cmd.status().map_err(|e| Error::io(h, e))?;
        if !st.success() {
            return Err(Error::invalid(format!(
                "hook {} failed ({st})",
                h.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entrypoint::test_util::target;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hook_env_holds_nothing_of_the_caller() {
        let env = hook_env(&Mode::Setuid, Some(&target()));
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys
            .iter()
            .all(|k| *k == "PATH" || *k == "HOME" || k.starts_with("HOSTMATCH_")));
        assert!(env.contains(&("HOME".into(), "/root".into())));
        assert!(env.contains(&("HOSTMATCH_UID".into(), "1000".into())));
    }

    #[test]
    fn hooks_run_in_name_order_with_a_clean_environment() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("hooks");
        fs::create_dir(&dir).unwrap();
        let out = d.path().join("out");
        for (name, body) in [
            ("20-second", "echo second >> \"$OUT\"\n"),
            (
                "10-first",
                "env | sort > \"$OUT.env\"; echo first >> \"$OUT\"\n",
            ),
            (".hidden", "echo hidden >> \"$OUT\"\n"),
            ("README", "not executable\n"),
        ] {
            let p = dir.join(name);
            let out_s = out.to_str().unwrap();
            fs::write(&p, format!("#!/bin/sh\nOUT={out_s}\n{body}")).unwrap();
            let mode = if name == "README" { 0o644 } else { 0o755 };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
        let hooks = list_hooks(&dir, false).unwrap();
        assert_eq!(hooks.len(), 2);
        std::env::set_var("LD_PRELOAD_TEST_SECRET", "1");
        run_hooks(&hooks, &hook_env(&Mode::Root, Some(&target()))).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "first\nsecond\n");
        let env = fs::read_to_string(d.path().join("out.env")).unwrap();
        assert!(!env.contains("LD_PRELOAD_TEST_SECRET"), "{env}");
        assert!(env.contains("HOME=/root\n"), "{env}");
        assert!(env.contains("HOSTMATCH_USER=app\n"), "{env}");
    }

    #[test]
    fn failing_hook_stops_the_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("10-fail");
        fs::write(&p, "#!/bin/sh\nexit 3\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let e = run_hooks(&[p], &hook_env(&Mode::Root, None)).unwrap_err();
        assert!(e.to_string().contains("10-fail"), "{e}");
    }
}
