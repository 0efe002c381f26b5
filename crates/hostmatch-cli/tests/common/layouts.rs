//! /etc/subuid and /etc/subgid layouts for `userns-remap`, with the maps each Docker
//! rule set installs: up to 27 (checked against a real dockerd 20.10 by
//! `e2e_remap`), and 28 and later (read from moby's source at v28.5.2 and
//! docker-v29.7.2, see docs/dockerd-remap-behaviour.md; checked by `cli_engine`).
//! The same layouts serve both, so each rule set is tested on the same files.

/// A map as (container, host, count) lines.
pub type Triples = Vec<(u32, u32, u32)>;

/// What a Docker version does with a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// It installs these uid and gid maps.
    Maps(Triples, Triples),
    /// Like `Maps`, and a warning names the line read as host id 0.
    MapsHostZero(Triples, Triples),
    /// dockerd refuses to start (a piece of its message).
    Refused(&'static str),
}

/// The accounts a layout is written for.
#[derive(Debug, Clone)]
pub struct Who {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Another account (for lines of someone else).
    pub other: String,
    /// A group that is not the user's (for `user:group`).
    pub group: String,
}

/// A layout: SPEC, the lines to append, and what each rule set does.
#[derive(Debug, Clone)]
pub struct DockerLayout {
    pub spec: String,
    pub subuid: Vec<String>,
    pub subgid: Vec<String>,
    pub up_to_27: Expect,
    pub from_28: Expect,
}

/// The layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One range per file, by name.
    Single,
    /// `user:UID:1` then `user:100000:65535` (gid likewise): root is the user itself.
    OwnUidFirst,
    /// The CI-agent layout `agent:UID:65536`, a range from the own uid: covers real host
    /// accounts; dockerd takes it.
    CiAgent,
    /// Several lines, not sorted: stacked in file order.
    OutOfOrder,
    /// Lines written with the numeric uid, SPEC a uid, a name line too.
    NumericLinesUidSpec,
    /// SPEC a name; subuid has name lines AND a uid line, subgid only a name line.
    NumericLinesNameSpec,
    /// `user:group`: subgid is searched for the USER; the group's own line is ignored.
    UserGroup,
    /// Another user's lines between the user's lines.
    Interleaved,
    /// A comment, another user's non-numeric line, blank lines and surrounding blanks.
    Tolerated,
    /// Another user's line with 4 fields.
    OtherUsersFourFields,
    /// The user's own second line with a non-numeric start.
    OwnLineNotNumeric,
    /// No subgid line for the user.
    NoSubgidLine,
}

impl Kind {
    /// Every layout.
    pub const ALL: [Kind; 12] = [
        Kind::Single,
        Kind::OwnUidFirst,
        Kind::CiAgent,
        Kind::OutOfOrder,
        Kind::NumericLinesUidSpec,
        Kind::NumericLinesNameSpec,
        Kind::UserGroup,
        Kind::Interleaved,
        Kind::Tolerated,
        Kind::OtherUsersFourFields,
        Kind::OwnLineNotNumeric,
        Kind::NoSubgidLine,
    ];

    /// Layouts that would stop (or endanger) every remapping dockerd on the machine:
    /// tested in a private /etc only.
    pub fn damages_the_files(self) -> bool {
        matches!(
            self,
            Kind::Tolerated
                | Kind::OtherUsersFourFields
                | Kind::OwnLineNotNumeric
                | Kind::NoSubgidLine
        )
    }
}

fn lines(parts: &[(&str, u32, u32)]) -> Vec<String> {
    parts
        .iter()
        .map(|(o, s, c)| format!("{o}:{s}:{c}"))
        .collect()
}

/// The layout `kind` for the accounts `w` (`w.uid == w.gid` for `NumericLinesUidSpec`).
pub fn docker_layout(kind: Kind, w: &Who) -> DockerLayout {
    let (n, uid, gid) = (w.name.as_str(), w.uid, w.gid);
    let id = uid.to_string();
    let same = |spec: &str, su: Vec<String>, sg: Vec<String>, e: Expect| DockerLayout {
        spec: spec.to_string(),
        subuid: su,
        subgid: sg,
        up_to_27: e.clone(),
        from_28: e,
    };
    let maps = |u: &[(u32, u32, u32)], g: &[(u32, u32, u32)]| Expect::Maps(u.to_vec(), g.to_vec());
    match kind {
        Kind::Single => same(
            n,
            lines(&[(n, 2_000_000, 65536)]),
            lines(&[(n, 2_100_000, 65536)]),
            maps(&[(0, 2_000_000, 65536)], &[(0, 2_100_000, 65536)]),
        ),
        Kind::OwnUidFirst => same(
            n,
            lines(&[(n, uid, 1), (n, 100_000, 65535)]),
            lines(&[(n, gid, 1), (n, 100_000, 65535)]),
            maps(
                &[(0, uid, 1), (1, 100_000, 65535)],
                &[(0, gid, 1), (1, 100_000, 65535)],
            ),
        ),
        Kind::CiAgent => same(
            n,
            lines(&[(n, uid, 65536)]),
            lines(&[(n, gid, 65536)]),
            maps(&[(0, uid, 65536)], &[(0, gid, 65536)]),
        ),
        Kind::OutOfOrder => {
            let l = lines(&[(n, 300_000, 1000), (n, 1500, 1), (n, 200_000, 65536)]);
            let m = [(0, 300_000, 1000), (1000, 1500, 1), (1001, 200_000, 65536)];
            same(n, l.clone(), l, maps(&m, &m))
        }
        Kind::NumericLinesUidSpec => DockerLayout {
            spec: id.clone(),
            subuid: lines(&[(&id, 2_200_000, 65536), (n, 2_300_000, 65536)]),
            subgid: lines(&[(n, 2_400_000, 65536), (&id, 2_500_000, 65536)]),
            up_to_27: maps(&[(0, 2_200_000, 65536)], &[(0, 2_500_000, 65536)]),
            // From 28 name and uid lines are taken together, in file order.
            from_28: maps(
                &[(0, 2_200_000, 65536), (65536, 2_300_000, 65536)],
                &[(0, 2_400_000, 65536), (65536, 2_500_000, 65536)],
            ),
        },
        Kind::NumericLinesNameSpec => DockerLayout {
            spec: n.to_string(),
            subuid: lines(&[
                (n, 2_600_000, 65536),
                (&id, 2_700_000, 65536),
                (n, 2_800_000, 10),
            ]),
            subgid: lines(&[(n, 2_900_000, 65536)]),
            up_to_27: maps(&[(0, 2_700_000, 65536)], &[(0, 2_900_000, 65536)]),
            from_28: maps(
                &[
                    (0, 2_600_000, 65536),
                    (65536, 2_700_000, 65536),
                    (131_072, 2_800_000, 10),
                ],
                &[(0, 2_900_000, 65536)],
            ),
        },
        Kind::UserGroup => same(
            &format!("{n}:{}", w.group),
            lines(&[(n, 3_000_000, 65536)]),
            lines(&[(&w.group, 3_100_000, 65536), (n, 3_200_000, 65536)]),
            maps(&[(0, 3_000_000, 65536)], &[(0, 3_200_000, 65536)]),
        ),
        Kind::Interleaved => {
            let l = lines(&[
                (n, 3_300_000, 1000),
                (&w.other, 3_400_000, 65536),
                (n, 3_500_000, 65536),
            ]);
            let m = [(0, 3_300_000, 1000), (1000, 3_500_000, 65536)];
            same(n, l.clone(), l, maps(&m, &m))
        }
        Kind::Tolerated => same(
            n,
            vec![
                "# comment".into(),
                format!("{}:abc:10", w.other),
                String::new(),
                format!("  {n}:600000:65536  "),
            ],
            lines(&[(n, 610_000, 65536)]),
            maps(&[(0, 600_000, 65536)], &[(0, 610_000, 65536)]),
        ),
        Kind::OtherUsersFourFields => DockerLayout {
            spec: n.to_string(),
            subuid: vec![format!("{}:1:2:3", w.other), format!("{n}:600000:65536")],
            subgid: lines(&[(n, 600_000, 65536)]),
            up_to_27: Expect::Refused("Format not correct"),
            // From 28 a fourth field is ignored and the line is someone else's.
            from_28: maps(&[(0, 600_000, 65536)], &[(0, 600_000, 65536)]),
        },
        Kind::OwnLineNotNumeric => DockerLayout {
            spec: n.to_string(),
            subuid: vec![format!("{n}:600000:65536"), format!("{n}:abc:10")],
            subgid: lines(&[(n, 600_000, 65536)]),
            up_to_27: Expect::Refused("String to int conversion failed"),
            // From 28 `abc` reads as 0: container ids 65536-65545 become host ids 0-9.
            from_28: Expect::MapsHostZero(
                vec![(0, 600_000, 65536), (65536, 0, 10)],
                vec![(0, 600_000, 65536)],
            ),
        },
        Kind::NoSubgidLine => same(
            n,
            lines(&[(n, 600_000, 65536)]),
            lines(&[(&w.other, 700_000, 65536)]),
            Expect::Refused("no subgid ranges found"),
        ),
    }
}

/// `default` on a host without `dockremap` (dockerd creates it and allocates per file).
#[derive(Debug, Clone)]
pub struct DefaultLayout {
    pub subuid: &'static str,
    pub subgid: &'static str,
    pub up_to_27: (Triples, Triples),
    pub from_28: (Triples, Triples),
}

/// The `default` layouts, by name.
pub fn default_layout(name: &str) -> DefaultLayout {
    match name {
        // subuid: a range at 100000 and one touching its end: up to 27 the inclusive
        // overlap test steps over both (start 165546); subgid: a range INSIDE
        // 100000-165535 that the test misses (start 100000). From 28 only root's own lines
        // are stepped over: 100000 in both files, over the other user's ranges.
        "quirks" => DefaultLayout {
            subuid: "other:100000:65536\nother:165536:10\n",
            subgid: "other:120000:10\n",
            up_to_27: (vec![(0, 165_546, 65536)], vec![(0, 100_000, 65536)]),
            from_28: (vec![(0, 100_000, 65536)], vec![(0, 100_000, 65536)]),
        },
        // A `dockremap` line in subuid only: used as is; subgid gets a fresh range (up to
        // 27 after every range, walked sorted by start; from 28 at 100000).
        "existing-subuid-line" => DefaultLayout {
            subuid: "dockremap:700000:2000\n",
            subgid: "other:300000:65536\nother:100000:65536\nother:180000:65536\n",
            up_to_27: (vec![(0, 700_000, 2000)], vec![(0, 365_536, 65536)]),
            from_28: (vec![(0, 700_000, 2000)], vec![(0, 100_000, 65536)]),
        },
        other => panic!("no default layout {other}"),
    }
}

/// The maps a busybox container of `d` gets (imports busybox as `busybox`).
pub fn dockerd_container_maps(
    d: &testkit::Dockerd,
) -> (hostmatch::ids::IdMap, hostmatch::ids::IdMap) {
    d.import(
        testkit::images::busybox_rootfs_tar().expect("busybox image"),
        "busybox",
    );
    let script = "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map";
    let out = d.run_ok(["run", "--rm", "busybox", "sh", "-c", script]);
    let (u, g) = out
        .split_once("--\n")
        .unwrap_or_else(|| panic!("unexpected container output: {out}"));
    let parse = |m: &str| hostmatch::ids::IdMap::parse(m).expect("a kernel id map");
    (parse(u), parse(g))
}

/// A layout on the real host: two fresh users and a group (removed on drop),
/// the layout's lines appended to the host's /etc/subuid and /etc/subgid
/// (taken out again on drop).
pub struct OnHost {
    // Fields drop in this order: the lines go before the users.
    _subids: testkit::HostSubids,
    pub layout: DockerLayout,
    /// The layout's user.
    pub user: testkit::HostUser,
    _others: (testkit::HostUser, testkit::HostGroup),
}

/// Puts the layout of `kind` on the host, for a real dockerd to read.
pub fn on_host(kind: Kind) -> OnHost {
    let (u, other, g) = (
        testkit::HostUser::unique().unwrap(),
        testkit::HostUser::unique().unwrap(),
        testkit::HostGroup::unique().unwrap(),
    );
    let who = Who {
        name: u.name.clone(),
        uid: u.uid,
        gid: u.gid,
        other: other.name.clone(),
        group: g.name.clone(),
    };
    let layout = docker_layout(kind, &who);
    let subids = testkit::HostSubids::add(&layout.subuid, &layout.subgid).unwrap();
    OnHost {
        _subids: subids,
        layout,
        user: u,
        _others: (other, g),
    }
}
