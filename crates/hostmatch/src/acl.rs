//! POSIX ACLs and file capabilities as the kernel stores them in extended
//! attributes (`system.posix_acl_access`, `system.posix_acl_default`,
//! `security.capability`). Pure models: parse bytes, edit, render bytes.
//!
//! ACL xattr layout (little endian): a 4-byte header holding version 2, then
//! 8-byte entries `{tag: u16, perm: u16, id: u32}`; `id` is only meaningful
//! for named users and groups (else `u32::MAX`).
//!
//! Capability xattr layout (little endian): `magic_etc: u32` (revision in the
//! top byte, bit 0 = effective), two `{permitted, inheritable}` u32 pairs,
//! and for revision 3 a `rootid: u32` naming the namespace root the
//! capabilities belong to.

use crate::ids::Id;
use crate::{Error, Result};

/// Name of the access-ACL xattr.
pub const XATTR_ACCESS: &str = "system.posix_acl_access";
/// Name of the default-ACL xattr (directories only).
pub const XATTR_DEFAULT: &str = "system.posix_acl_default";
/// Name of the file-capability xattr.
pub const XATTR_CAPS: &str = "security.capability";

const ACL_VERSION: u32 = 2;
const UNDEFINED_ID: u32 = u32::MAX;

const TAG_USER_OBJ: u16 = 0x01;
const TAG_USER: u16 = 0x02;
const TAG_GROUP_OBJ: u16 = 0x04;
const TAG_GROUP: u16 = 0x08;
const TAG_MASK: u16 = 0x10;
const TAG_OTHER: u16 = 0x20;

/// Read permission bit of an ACL entry.
pub const R: u16 = 4;
/// Write permission bit.
pub const W: u16 = 2;
/// Execute permission bit.
pub const X: u16 = 1;

/// Whom an ACL entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    UserObj,
    User(Id),
    GroupObj,
    Group(Id),
    Mask,
    Other,
}

impl Tag {
    fn order(&self) -> (u16, u32) {
        match *self {
            Tag::UserObj => (TAG_USER_OBJ, 0),
            Tag::User(id) => (TAG_USER, id),
            Tag::GroupObj => (TAG_GROUP_OBJ, 0),
            Tag::Group(id) => (TAG_GROUP, id),
            Tag::Mask => (TAG_MASK, 0),
            Tag::Other => (TAG_OTHER, 0),
        }
    }
}

/// One ACL entry: a tag and its rwx bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    pub tag: Tag,
    pub perm: u16,
}

/// A POSIX ACL, entries kept in the order the kernel requires (by tag, then id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Acl {
    entries: Vec<Entry>,
}

impl Acl {
    /// An ACL from entries (sorted into kernel order).
    pub fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by_key(|e| e.tag.order());
        Acl { entries }
    }

    /// The three-entry ACL equivalent to a file mode.
    pub fn from_mode(mode: u32) -> Self {
        Acl::new(vec![
            Entry {
                tag: Tag::UserObj,
                perm: ((mode >> 6) & 7) as u16,
            },
            Entry {
                tag: Tag::GroupObj,
                perm: ((mode >> 3) & 7) as u16,
            },
            Entry {
                tag: Tag::Other,
                perm: (mode & 7) as u16,
            },
        ])
    }

    /// The entries, in kernel order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Parses the kernel's binary xattr value.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 4 || !(bytes.len() - 4).is_multiple_of(8) {
            return Err(Error::invalid(format!(
                "ACL xattr of {} bytes is not 4 + 8*n",
                bytes.len()
            )));
        }
        let version = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        if version != ACL_VERSION {
            return Err(Error::invalid(format!(
                "ACL xattr version {version}, expected 2"
            )));
        }
        let mut entries = Vec::with_capacity((bytes.len() - 4) / 8);
        for chunk in bytes[4..].chunks_exact(8) {
            let tag = u16::from_le_bytes([chunk[0], chunk[1]]);
            let perm = u16::from_le_bytes([chunk[2], chunk[3]]);
            let id = u32::from_le_bytes(chunk[4..8].try_into().expect("4 bytes"));
            let tag = match tag {
                TAG_USER_OBJ => Tag::UserObj,
                TAG_USER => Tag::User(id),
                TAG_GROUP_OBJ => Tag::GroupObj,
                TAG_GROUP => Tag::Group(id),
                TAG_MASK => Tag::Mask,
                TAG_OTHER => Tag::Other,
                t => return Err(Error::invalid(format!("ACL entry with unknown tag {t:#x}"))),
            };
            if perm & !7 != 0 {
                return Err(Error::invalid(format!(
                    "ACL entry with bad permissions {perm:#o}"
                )));
            }
            entries.push(Entry { tag, perm });
        }
        // Kept in the stored order: a round trip must give the same bytes.
        Ok(Acl { entries })
    }

    /// Renders the kernel's binary xattr value.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 * self.entries.len());
        out.extend_from_slice(&ACL_VERSION.to_le_bytes());
        for e in &self.entries {
            let (tag, id) = match e.tag {
                Tag::UserObj => (TAG_USER_OBJ, UNDEFINED_ID),
                Tag::User(id) => (TAG_USER, id),
                Tag::GroupObj => (TAG_GROUP_OBJ, UNDEFINED_ID),
                Tag::Group(id) => (TAG_GROUP, id),
                Tag::Mask => (TAG_MASK, UNDEFINED_ID),
                Tag::Other => (TAG_OTHER, UNDEFINED_ID),
            };
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&e.perm.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
        }
        out
    }

    /// Moves named-user and named-group ids through `uid`/`gid` (None: left
    /// alone). Returns the number of ids left alone. The entries are
    /// re-sorted, since ids may change order.
    pub fn shift(&mut self, uid: impl Fn(Id) -> Option<Id>, gid: impl Fn(Id) -> Option<Id>) -> u64 {
        let mut unmapped = 0;
        for e in &mut self.entries {
            match &mut e.tag {
                Tag::User(id) => match uid(*id) {
                    Some(n) => *id = n,
                    None => unmapped += 1,
                },
                Tag::Group(id) => match gid(*id) {
                    Some(n) => *id = n,
                    None => unmapped += 1,
                },
                _ => {}
            }
        }
        self.entries.sort_by_key(|e| e.tag.order());
        unmapped
    }

    /// The permissions of an entry.
    pub fn get(&self, tag: Tag) -> Option<u16> {
        self.entries.iter().find(|e| e.tag == tag).map(|e| e.perm)
    }

    /// Whether the ACL has named users or groups.
    pub fn has_named(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.tag, Tag::User(_) | Tag::Group(_)))
    }

    /// Sets (adds or replaces) an entry.
    pub fn set(&mut self, tag: Tag, perm: u16) {
        match self.entries.iter_mut().find(|e| e.tag == tag) {
            Some(e) => e.perm = perm & 7,
            None => {
                self.entries.push(Entry {
                    tag,
                    perm: perm & 7,
                });
                self.entries.sort_by_key(|e| e.tag.order());
            }
        }
    }

    /// Removes an entry; whether it was there.
    pub fn remove(&mut self, tag: Tag) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.tag != tag);
        self.entries.len() != before
    }

    /// Recomputes the mask as the union of the group class (owning group,
    /// named users, named groups), as `setfacl` does, so that a granted entry
    /// takes effect. An ACL without named entries gets no mask.
    pub fn recompute_mask(&mut self) {
        if !self.has_named() {
            if let Some(m) = self.get(Tag::Mask) {
                // The mask was the mode's group bits: keep what it allowed.
                let g = self.get(Tag::GroupObj).unwrap_or(0) & m;
                self.remove(Tag::Mask);
                self.set(Tag::GroupObj, g);
            }
            return;
        }
        let union = self
            .entries
            .iter()
            .filter(|e| matches!(e.tag, Tag::User(_) | Tag::Group(_) | Tag::GroupObj))
            .fold(0, |a, e| a | e.perm);
        self.set(Tag::Mask, union);
    }

    /// Whether the ACL says no more than a mode does (three base entries).
    pub fn is_minimal(&self) -> bool {
        !self.has_named() && self.get(Tag::Mask).is_none()
    }

    /// The permission bits (0o777) this ACL gives the mode: owner, group
    /// class (the mask when there is one) and other.
    pub fn mode_bits(&self) -> u32 {
        let u = self.get(Tag::UserObj).unwrap_or(0) as u32;
        let g = self
            .get(Tag::Mask)
            .or_else(|| self.get(Tag::GroupObj))
            .unwrap_or(0) as u32;
        let o = self.get(Tag::Other).unwrap_or(0) as u32;
        (u << 6) | (g << 3) | o
    }
}

/// Parses a permission string like `rwX`, `rw-`, `r`, `---`. `X` gives
/// execute only when `exec_ok` (a directory, or a file someone can already
/// execute).
pub fn parse_perms(s: &str, exec_ok: bool) -> Result<u16> {
    let mut p = 0;
    if s.is_empty() {
        return Err(Error::invalid(
            "empty ACL permissions (use e.g. rwX or ---)",
        ));
    }
    for c in s.chars() {
        p |= match c {
            'r' => R,
            'w' => W,
            'x' => X,
            'X' => {
                if exec_ok {
                    X
                } else {
                    0
                }
            }
            '-' => 0,
            _ => {
                return Err(Error::invalid(format!(
                    "ACL permissions '{s}': only r, w, x, X and - are allowed"
                )))
            }
        };
    }
    Ok(p)
}

const CAP_REVISION_MASK: u32 = 0xFF00_0000;
const CAP_REVISION_2: u32 = 0x0200_0000;
const CAP_REVISION_3: u32 = 0x0300_0000;
const CAP_V2_SIZE: usize = 20;
const CAP_V3_SIZE: usize = 24;

/// A `security.capability` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCaps {
    /// Revision and flags word, as stored.
    pub magic_etc: u32,
    /// `[permitted, inheritable]` for the low and high 32 capabilities.
    pub data: [(u32, u32); 2],
    /// Namespace root uid (revision 3 only).
    pub rootid: Option<Id>,
}

impl FileCaps {
    /// Parses a revision 2 or 3 value.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        if bytes.len() < 4 {
            return Err(Error::invalid("capability xattr shorter than its header"));
        }
        let magic_etc = word(0);
        let rev = magic_etc & CAP_REVISION_MASK;
        let want = match rev {
            CAP_REVISION_2 => CAP_V2_SIZE,
            CAP_REVISION_3 => CAP_V3_SIZE,
            _ => {
                return Err(Error::invalid(format!(
                    "capability xattr revision {:#x} is not 2 or 3",
                    rev >> 24
                )))
            }
        };
        if bytes.len() != want {
            return Err(Error::invalid(format!(
                "capability xattr of {} bytes, expected {want}",
                bytes.len()
            )));
        }
        Ok(FileCaps {
            magic_etc,
            data: [(word(4), word(8)), (word(12), word(16))],
            rootid: (rev == CAP_REVISION_3).then(|| word(20)),
        })
    }

    /// The namespace root the capabilities belong to: a revision 2 value
    /// (which is also how the kernel shows a revision 3 value with root 0 to
    /// the initial namespace) belongs to uid 0.
    pub fn root(&self) -> Id {
        self.rootid.unwrap_or(0)
    }

    /// Gives the capabilities to another namespace root (revision 3).
    pub fn set_root(&mut self, root: Id) {
        self.magic_etc = CAP_REVISION_3 | (self.magic_etc & !CAP_REVISION_MASK);
        self.rootid = Some(root);
    }

    /// Renders the stored bytes.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CAP_V3_SIZE);
        out.extend_from_slice(&self.magic_etc.to_le_bytes());
        for (p, i) in self.data {
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&i.to_le_bytes());
        }
        if let Some(r) = self.rootid {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn setfacl_bytes_parse() {
        // `setfacl -m u:1000:rwx,m::rwx f` on a 0644 file, as getfattr -e hex shows it.
        let hex = "0200000001000600ffffffff02000700e803000004000400ffffffff10000700ffffffff20000400ffffffff";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let acl = Acl::parse(&bytes).unwrap();
        assert_eq!(acl.get(Tag::User(1000)), Some(7));
        assert_eq!(acl.get(Tag::Mask), Some(7));
        assert_eq!(acl.mode_bits(), 0o674);
        assert_eq!(acl.render(), bytes);
    }

    #[test]
    fn grant_recomputes_mask_so_it_takes_effect() {
        let mut acl = Acl::from_mode(0o640);
        acl.set(Tag::User(33), R | W | X);
        acl.recompute_mask();
        assert_eq!(acl.get(Tag::Mask), Some(7));
        acl.remove(Tag::User(33));
        acl.recompute_mask();
        assert!(acl.is_minimal());
        assert_eq!(acl.mode_bits(), 0o640);
    }

    #[test]
    fn perms_parse_capital_x_by_kind() {
        assert_eq!(parse_perms("rwX", true).unwrap(), 7);
        assert_eq!(parse_perms("rwX", false).unwrap(), 6);
        assert_eq!(parse_perms("r--", false).unwrap(), 4);
        assert!(parse_perms("rwz", true).is_err());
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        assert!(Acl::parse(&[1, 0, 0, 0]).is_err());
        assert!(Acl::parse(&[2, 0, 0]).is_err());
        assert!(Acl::parse(&[2, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(FileCaps::parse(&[0, 0, 0, 3]).is_err());
        assert!(FileCaps::parse(&[]).is_err());
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        let tag = prop_oneof![
            Just(Tag::UserObj),
            any::<u32>().prop_map(Tag::User),
            Just(Tag::GroupObj),
            any::<u32>().prop_map(Tag::Group),
            Just(Tag::Mask),
            Just(Tag::Other),
        ];
        (tag, 0u16..8).prop_map(|(tag, perm)| Entry { tag, perm })
    }

    proptest! {
        #[test]
        fn acl_render_parse_round_trips(entries in prop::collection::vec(arb_entry(), 0..12)) {
            let acl = Acl::new(entries);
            let bytes = acl.render();
            prop_assert_eq!(Acl::parse(&bytes).unwrap(), acl.clone());
            prop_assert_eq!(Acl::parse(&bytes).unwrap().render(), bytes);
        }

        #[test]
        fn acl_shift_then_inverse_is_identity(entries in prop::collection::vec(arb_entry(), 0..12), off in 1u32..1_000_000) {
            let acl = Acl::new(entries);
            let fwd = |id: Id| (id < 65536).then(|| id + 100_000 + off);
            let back = |id: Id| (100_000 + off..165_536 + off).contains(&id).then(|| id - 100_000 - off);
            let mut shifted = acl.clone();
            shifted.shift(fwd, fwd);
            shifted.shift(back, back);
            // Ids outside both ranges stay put; an id already inside the
            // backward range (but not the forward one) would move back.
            let clean = acl.entries().iter().all(|e| match e.tag {
                Tag::User(i) | Tag::Group(i) => fwd(i).is_some() || back(i).is_none(),
                _ => true,
            });
            if clean {
                prop_assert_eq!(shifted, acl);
            }
        }

        #[test]
        fn caps_round_trip(v3 in any::<bool>(), eff in any::<bool>(), d in any::<[u32; 4]>(), root in any::<u32>()) {
            let caps = FileCaps {
                magic_etc: if v3 { CAP_REVISION_3 } else { CAP_REVISION_2 } | eff as u32,
                data: [(d[0], d[1]), (d[2], d[3])],
                rootid: v3.then_some(root),
            };
            prop_assert_eq!(FileCaps::parse(&caps.render()).unwrap(), caps);
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Acl::parse(&bytes);
            let _ = FileCaps::parse(&bytes);
        }
    }
}
