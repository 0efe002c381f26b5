//! Verdicts from observations (no containers involved).

use super::*;
use crate::engine::EngineKind;

fn ok() -> Attempt {
    Attempt {
        ok: true,
        error: None,
    }
}

fn denied() -> Attempt {
    Attempt {
        ok: false,
        error: Some("Permission denied (os error 13)".into()),
    }
}

fn ops(a: fn() -> Attempt) -> ProbeOps {
    ProbeOps {
        read_public: ok(),
        create: a(),
        modify: a(),
        delete: a(),
        chown: a(),
        read_private: a(),
        modify_user: a(),
    }
}

fn report(map: &str, ops: ProbeOps) -> ProbeReport {
    ProbeReport {
        format: PROBE_FORMAT,
        uid: 0,
        gid: 0,
        uid_map: map.into(),
        gid_map: map.into(),
        ops: Some(ops),
    }
}

const IDENTITY: &str = "         0          0 4294967295\n";
const REMAP: &str = "0 100000 65536\n";

/// A daemon without remapping: container root did everything.
fn plain() -> Observations {
    Observations {
        engine: "Docker 20.10.24".into(),
        kind: EngineKind::Docker,
        probe: report(IDENTITY, ops(ok)),
        host: HostEffects {
            created_owner: Some((0, 0)),
            root_file_changed: true,
            root_file_deleted: true,
            root_file_chowned: true,
            user_file_changed: true,
            user_owner: (65534, Some("nobody".into())),
        },
        privileged: Trial::Allowed(None),
        net_host: Trial::Allowed(None),
        pid_host: Trial::Allowed(None),
        userns_host: Trial::Allowed(None),
        predicted: Predicted::Identity,
        mode: DaemonMode::Plain,
        socket: Some(SocketFacts {
            path: "/var/run/docker.sock".into(),
            mode: 0o140660,
            uid: 0,
            gid: 998,
            group: Some("docker".into()),
            members: vec!["alice".into()],
        }),
        max_user_namespaces: Some(15000),
        mapped_accounts: vec![],
        scratch_root_owned: true,
    }
}

/// `--userns-remap=default`: every write refused.
fn remapped() -> Observations {
    let refused = |m: &str| Trial::Refused(m.into());
    Observations {
        probe: report(REMAP, ops(denied)),
        host: HostEffects {
            created_owner: None,
            user_owner: (65534, Some("nobody".into())),
            ..Default::default()
        },
        privileged: refused("privileged mode is incompatible with user namespaces"),
        net_host: refused(
            "cannot share the host's network namespace when user namespaces are enabled",
        ),
        pid_host: refused("cannot share the host PID namespace when user namespaces are enabled"),
        userns_host: Trial::Allowed(None),
        predicted: Predicted::Maps {
            spec: "default".into(),
            uid_map: IdMap::parse(REMAP).unwrap(),
            gid_map: IdMap::parse(REMAP).unwrap(),
        },
        mode: DaemonMode::UsernsRemap(Some("default".into())),
        ..plain()
    }
}

fn get<'a>(a: &'a Audit, id: &str) -> &'a Finding {
    a.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id} in {:#?}", a.findings))
}

#[test]
fn host_root_container_fails_write_read_privileged_and_says_etc() {
    let a = evaluate(&plain());
    assert_eq!(
        a.verdict,
        "container root is host root: any docker user can modify /etc"
    );
    assert_eq!(
        a.container_root,
        ContainerRoot {
            uid: Some(0),
            gid: Some(0)
        }
    );
    for id in [
        "container-root",
        "write-root-owned",
        "chown-root-owned",
        "read-private",
        "write-user-owned",
        "privileged",
        "userns-host",
        "daemon-mode",
    ] {
        assert_eq!(get(&a, id).status, Status::Fail, "{id}");
        assert!(
            get(&a, id).hint.contains("hostmatch docker enable default"),
            "{id}"
        );
    }
    assert_eq!(get(&a, "mapping-matches").status, Status::Ok);
    assert_eq!(get(&a, "docker-socket").status, Status::Warn);
    assert!(get(&a, "docker-socket").observed.contains("alice"));
    assert!(a.failed());
}

#[test]
fn remapped_container_with_every_write_refused_is_safe() {
    let a = evaluate(&remapped());
    assert_eq!(
        a.verdict,
        "container root is uid 100000: root-owned host files are safe"
    );
    for id in [
        "container-root",
        "mapped-accounts",
        "write-root-owned",
        "chown-root-owned",
        "read-private",
        "write-user-owned",
        "privileged",
        "net-host",
        "pid-host",
        "mapping-matches",
        "daemon-mode",
        "docker-socket",
        "userns-limit",
    ] {
        assert_eq!(get(&a, id).status, Status::Ok, "{id}: {:?}", get(&a, id));
    }
    // The opt-out remains: anyone on the socket can ask for --userns=host.
    assert_eq!(get(&a, "userns-host").status, Status::Warn);
    assert!(!a.failed());
}

#[test]
fn a_write_the_host_saw_counts_even_if_the_probe_reported_failure() {
    let mut o = remapped();
    o.host.root_file_changed = true;
    let a = evaluate(&o);
    assert_eq!(get(&a, "write-root-owned").status, Status::Fail);
    assert!(a.verdict.contains("NOT safe"), "{}", a.verdict);
}

#[test]
fn refusals_from_an_unreachable_scratch_dir_prove_nothing() {
    let mut o = remapped();
    o.probe.ops.as_mut().unwrap().read_public = denied();
    let a = evaluate(&o);
    let f = get(&a, "write-root-owned");
    assert_eq!(f.status, Status::Warn);
    assert!(f.observed.starts_with("inconclusive"), "{}", f.observed);
    assert!(
        !a.verdict.ends_with("root-owned host files are safe"),
        "{}",
        a.verdict
    );
}

#[test]
fn observed_map_other_than_predicted_fails_mapping_matches() {
    let mut o = remapped();
    o.predicted = Predicted::Maps {
        spec: "default".into(),
        uid_map: IdMap::parse("0 200000 65536").unwrap(),
        gid_map: IdMap::parse(REMAP).unwrap(),
    };
    let a = evaluate(&o);
    let f = get(&a, "mapping-matches");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.observed.contains("200000") && f.observed.contains("100000"),
        "{}",
        f.observed
    );
    o.predicted = Predicted::Unknown("cannot tell".into());
    assert_eq!(get(&evaluate(&o), "mapping-matches").status, Status::Warn);
}

#[test]
fn ci_agent_layout_names_the_account_container_root_becomes() {
    let mut o = remapped();
    o.probe = report("0 5000 65536\n", ops(denied));
    o.host.created_owner = None;
    o.mapped_accounts = mapped_accounts(
        &IdMap::parse("0 5000 65536").unwrap(),
        &[
            ("agent".into(), 5000),
            ("bob".into(), 5100),
            ("root".into(), 0),
        ],
    );
    let a = evaluate(&o);
    assert_eq!(a.container_root.uid, Some(5000));
    let f = get(&a, "container-root");
    assert_eq!(f.status, Status::Fail);
    assert!(f.observed.contains("'agent'"), "{}", f.observed);
    let m = get(&a, "mapped-accounts");
    assert_eq!(m.status, Status::Fail);
    assert!(
        m.observed
            .contains("bob (host uid 5100 = container uid 100)"),
        "{}",
        m.observed
    );
    assert!(a.verdict.contains("(agent)"), "{}", a.verdict);
}

#[test]
fn refused_userns_host_and_unknown_trials() {
    let mut o = remapped();
    o.userns_host = Trial::Refused("authorization denied by plugin".into());
    o.privileged = Trial::Error("timeout".into());
    let a = evaluate(&o);
    assert_eq!(get(&a, "userns-host").status, Status::Ok);
    assert_eq!(get(&a, "privileged").status, Status::Warn);
}

#[test]
fn privileged_allowed_under_remap_fails() {
    let mut o = remapped();
    o.privileged = Trial::Allowed(None);
    assert_eq!(get(&evaluate(&o), "privileged").status, Status::Fail);
    // Accepted by the daemon but failing in the runtime is still not a refusal.
    o.privileged = Trial::StartFailed("unable to apply caps".into());
    let a = evaluate(&o);
    let f = get(&a, "privileged");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.observed.contains("accepted --privileged"),
        "{}",
        f.observed
    );
}

#[test]
fn world_writable_socket_fails_and_disabled_userns_warns() {
    let mut o = remapped();
    o.socket.as_mut().unwrap().mode = 0o140666;
    o.max_user_namespaces = Some(0);
    let a = evaluate(&o);
    assert_eq!(get(&a, "docker-socket").status, Status::Fail);
    assert!(get(&a, "docker-socket").hint.contains("chmod 660"));
    assert_eq!(get(&a, "userns-limit").status, Status::Warn);
}

#[test]
fn container_root_comes_from_the_created_files_owner_first() {
    let mut o = remapped();
    o.host.created_owner = Some((100000, 100001));
    assert_eq!(
        container_root(&o),
        ContainerRoot {
            uid: Some(100000),
            gid: Some(100001)
        }
    );
    o.host.created_owner = None;
    o.probe.gid_map = "0 300000 65536\n".into();
    assert_eq!(
        container_root(&o),
        ContainerRoot {
            uid: Some(100000),
            gid: Some(300000)
        }
    );
}

#[test]
fn probe_report_round_trips_through_json() {
    let r = report(REMAP, ops(denied));
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<ProbeReport>(&text).unwrap(), r);
    let (u, g) = r.maps().unwrap();
    assert_eq!(u.to_host(0), Some(100000));
    assert_eq!(g.to_host(65535), Some(165535));
}

#[test]
fn json_has_the_required_ids_and_fields() {
    for o in [plain(), remapped()] {
        let v = serde_json::to_value(evaluate(&o)).unwrap();
        assert!(v["container_root"]["uid"].is_u64());
        let ids: Vec<&str> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                assert!(
                    f["status"].is_string() && f["observed"].is_string() && f["hint"].is_string()
                );
                f["id"].as_str().unwrap()
            })
            .collect();
        for id in [
            "write-root-owned",
            "read-private",
            "privileged",
            "userns-host",
            "mapping-matches",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
    }
}

/// Rootless Podman: container root is the user running it, ids 1.. its ranges; the
/// risky options run, but in the user's own namespace.
fn rootless_podman() -> Observations {
    const MAP: &str = "0 1000 1\n1 100000 65536\n";
    Observations {
        engine: "rootless Podman 4.3.1".into(),
        kind: EngineKind::Podman,
        probe: report(MAP, ops(denied)),
        host: HostEffects {
            created_owner: None,
            user_owner: (65534, Some("nobody".into())),
            ..Default::default()
        },
        predicted: Predicted::Maps {
            spec: "--rootless alice".into(),
            uid_map: IdMap::parse(MAP).unwrap(),
            gid_map: IdMap::parse(MAP).unwrap(),
        },
        mode: DaemonMode::Rootless {
            user: "alice".into(),
        },
        mapped_accounts: vec![MappedAccount {
            name: "alice".into(),
            host_uid: 1000,
            container_uid: 0,
        }],
        ..plain()
    }
}

#[test]
fn rootless_podman_is_not_reported_as_host_root_or_unremapped() {
    let a = evaluate(&rootless_podman());
    for id in [
        "container-root",
        "daemon-mode",
        "userns-host",
        "write-root-owned",
        "mapping-matches",
    ] {
        assert_eq!(get(&a, id).status, Status::Ok, "{id}: {:#?}", get(&a, id));
    }
    assert!(get(&a, "daemon-mode").observed.contains("runs as alice"));
    assert_eq!(
        a.verdict,
        "container root is uid 1000: root-owned host files are safe"
    );
    assert!(!a.failed(), "{:#?}", a.findings);
    // Another account at container uid 0 is still a finding.
    let mut o = rootless_podman();
    o.mapped_accounts[0].name = "bob".into();
    assert_eq!(get(&evaluate(&o), "container-root").status, Status::Fail);
}

#[test]
fn rootful_podman_without_userns_gets_hints_in_podmans_terms() {
    let mut o = plain();
    o.engine = "Podman 4.3.1".into();
    o.kind = EngineKind::Podman;
    let a = evaluate(&o);
    assert_eq!(
        a.verdict,
        "container root is host root: whoever can reach Podman's socket can modify /etc"
    );
    let hint = &get(&a, "write-root-owned").hint;
    assert!(
        hint.contains("--userns=auto") && !hint.contains("docker"),
        "{hint}"
    );
    assert!(get(&a, "daemon-mode")
        .observed
        .starts_with("Podman 4.3.1: neither"));
}

#[test]
fn a_privileged_container_in_a_user_namespace_is_not_host_root() {
    // Rootful Podman with userns = "auto": --privileged runs, but in its own namespace.
    let mut o = plain();
    o.kind = EngineKind::Podman;
    o.mode = DaemonMode::PodmanUserns("auto".into());
    o.privileged = Trial::Allowed(Some(Box::new(report("0 5503072 1024\n", ops(denied)))));
    let f = get(&evaluate(&o), "privileged").clone();
    assert_eq!(f.status, Status::Ok, "{f:?}");
    assert!(f.observed.contains("host uid 5503072"), "{f:?}");
    // The same with the identity map is host root.
    o.privileged = Trial::Allowed(Some(Box::new(report(IDENTITY, ops(denied)))));
    assert_eq!(get(&evaluate(&o), "privileged").status, Status::Fail);
}
