//! Parsing of what users type for the ownership commands: `UID:GID` pairs
//! (either side may be empty, names resolved in the accounts), shift maps
//! `CONTAINER:HOST:COUNT`, ACL permission strings.

use crate::accounts::Accounts;
use crate::ids::{parse_id, Extent, Id, IdMap};
use crate::{Error, Result};

use super::{AclChange, Rule};

/// `USER:GROUP`, `USER:`, `:GROUP` or `USER` (numbers or names looked up in
/// `accounts`). A missing or empty side is `None`.
pub fn owner_pair(accounts: &Accounts, s: &str) -> Result<(Option<Id>, Option<Id>)> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, g),
        None => (s, ""),
    };
    if g.contains(':') {
        return Err(Error::invalid(format!("'{s}': expected UID:GID")));
    }
    let uid = match u {
        "" => None,
        u => Some(user_id(accounts, u)?),
    };
    let gid = match g {
        "" => None,
        g => Some(group_id(accounts, g)?),
    };
    Ok((uid, gid))
}

/// A uid: a number (which need not have an account) or a user name.
pub fn user_id(accounts: &Accounts, s: &str) -> Result<Id> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_id(s);
    }
    Ok(accounts.user(s)?.uid)
}

/// A gid: a number or a group name.
pub fn group_id(accounts: &Accounts, s: &str) -> Result<Id> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_id(s);
    }
    Ok(accounts.group(s)?.gid)
}

/// The rule of `hostmatch chown --from F --to T`.
pub fn chown_rule(accounts: &Accounts, from: &str, to: &str) -> Result<Rule> {
    let (fu, fg) = owner_pair(accounts, from)?;
    let (tu, tg) = owner_pair(accounts, to)?;
    let side = |what: &str, f: Option<Id>, t: Option<Id>| {
        match (f, t) {
        (Some(f), Some(t)) => Ok(Some((f, t))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::invalid(format!(
            "--from gives a {what} but --to does not (write both sides, e.g. --from 1234: --to 1000:)"
        ))),
        (None, Some(_)) => Err(Error::invalid(format!(
            "--to gives a {what} but --from does not"
        ))),
    }
    };
    let uid = side("uid", fu, tu)?;
    let gid = side("gid", fg, tg)?;
    if uid.is_none() && gid.is_none() {
        return Err(Error::invalid("--from and --to name no uid and no gid"));
    }
    Ok(Rule::Chown { uid, gid })
}

/// One `--map CONTAINER:HOST:COUNT`.
pub fn extent(s: &str) -> Result<Extent> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        return Err(Error::invalid(format!(
            "map '{s}': expected CONTAINER:HOST:COUNT"
        )));
    }
    let e = Extent {
        container: parse_id(parts[0])?,
        host: parse_id(parts[1])?,
        count: parse_id(parts[2])?,
    };
    Ok(e)
}

/// The rule of `hostmatch shift --map ... [--reverse]`: the same maps for
/// uids and gids, checked like the kernel checks a uid_map (no overlap on
/// either side, no overflow).
pub fn shift_rule(maps: &[String], reverse: bool) -> Result<Rule> {
    if maps.is_empty() {
        return Err(Error::invalid(
            "give at least one --map CONTAINER:HOST:COUNT",
        ));
    }
    let extents = maps.iter().map(|m| extent(m)).collect::<Result<Vec<_>>>()?;
    let map = IdMap::new(extents)?;
    let map = if reverse { map.inverse() } else { map };
    Ok(Rule::Shift {
        uid_map: map.clone(),
        gid_map: map,
    })
}

/// `rwX`-style permissions for [`Rule::Acl`].
pub fn acl_grant(perms: &str) -> Result<AclChange> {
    let bits = crate::acl::parse_perms(perms, false)?;
    Ok(AclChange::Grant {
        perms: bits,
        cap_x: perms.contains('X'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{GroupFile, PasswdFile};

    fn accounts() -> Accounts {
        Accounts {
            passwd: PasswdFile::parse("alice:x:1000:1000::/home/alice:/bin/sh\n"),
            group: GroupFile::parse("alice:x:1000:\ndocker:x:999:alice\n"),
        }
    }

    #[test]
    fn either_side_may_be_empty() {
        let a = accounts();
        assert_eq!(
            chown_rule(&a, "1234:", "alice:").unwrap(),
            Rule::Chown {
                uid: Some((1234, 1000)),
                gid: None
            }
        );
        assert_eq!(
            chown_rule(&a, ":5", ":docker").unwrap(),
            Rule::Chown {
                uid: None,
                gid: Some((5, 999))
            }
        );
        assert!(chown_rule(&a, "1:", ":2").is_err());
        assert!(chown_rule(&a, ":", ":").is_err());
    }

    #[test]
    fn unknown_names_are_bad_input() {
        let e = chown_rule(&accounts(), "bob:", "alice:").unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), "unknown user 'bob'");
    }

    #[test]
    fn overlapping_or_overflowing_maps_are_rejected() {
        let m =
            |v: &[&str]| shift_rule(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), false);
        assert!(m(&["0:100000:65536"]).is_ok());
        assert!(m(&["0:100000:65536", "1000:300000:10"])
            .unwrap_err()
            .is_bad_input());
        assert!(m(&["0:100000:65536", "70000:100010:10"])
            .unwrap_err()
            .is_bad_input());
        assert!(m(&["0:4294967295:2"]).unwrap_err().is_bad_input());
        assert!(m(&["0:1:0"]).is_err());
        assert!(m(&["0:1"]).is_err());
        assert!(m(&[]).is_err());
    }

    #[test]
    fn reverse_inverts_the_map() {
        let r = shift_rule(&["0:100000:65536".into()], true).unwrap();
        let Rule::Shift { uid_map, .. } = r else {
            panic!("not a shift")
        };
        assert_eq!(uid_map.to_host(100033), Some(33));
    }
}
