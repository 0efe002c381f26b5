//! Which engine's rules a command applies, and what it predicts for.
//!
//! Order: `--rootless`/`--engine`; else the running engine (asked only when
//! looking at the real host); else the installed Docker package below the root;
//! else Docker's rule sets must agree.

use std::time::Duration;

use serde::Serialize;

use hostmatch::engine::ask::{self, Asked};
use hostmatch::engine::endpoint::ClientEnv;
use hostmatch::engine::podman_conf::{ConfEnv, PodmanSettings};
use hostmatch::engine::{self, Engine, EngineChoice, Privilege, RemapConfig, RuleSet};
use hostmatch::ids::parse_id;
use hostmatch::podman::Userns;
use hostmatch::remap::{self, Inputs, Prediction, Target};
use hostmatch::Error;

use crate::cli::EngineArgs;
use crate::ui::Context;

/// How long a command waits for the engine to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the running engine, only when looking at the real host.
pub fn ask_running(ctx: &Context) -> Option<hostmatch::Result<Asked>> {
    ctx.root
        .is_host_root()
        .then(|| ask::ask(&ctx.root, &ClientEnv::from_process(), ASK_TIMEOUT))
}

/// The rules chosen and why.
#[derive(Debug, Clone)]
pub struct Selected {
    /// None: the Docker version is unknown; Docker's rule sets must agree.
    pub rules: Option<RuleSet>,
    pub why: String,
    pub engine: Option<Engine>,
}

/// The running engine (asked only when looking at the real host), or why none answered.
/// An engine that is there but cannot be used (silent past [`ASK_TIMEOUT`], an answer
/// that is not the Engine API's, an API version hostmatch does not speak) is an error,
/// and so is any failure when the command is `required` to ask it: falling back to
/// another rule set would hide it.
pub fn running(ctx: &Context, required: bool) -> anyhow::Result<Option<Result<Engine, String>>> {
    match ask_running(ctx) {
        Some(Err(e)) if required || e.is_engine_misbehaving() => Err(e.into()),
        other => Ok(other.map(|r| r.map(|a| a.engine).map_err(|e| e.to_string()))),
    }
}

/// Chooses the rules (see the module's documentation), asking the running engine
/// only when the options leave the choice open. `required`: the command predicts the
/// running engine's own setting, so an engine that does not answer is an error.
pub fn select(ctx: &Context, e: &EngineArgs, required: bool) -> anyhow::Result<Selected> {
    let choice = e.engine.as_deref().map(EngineChoice::parse).transpose()?;
    let decided = e.rootless.is_some() || matches!(choice, Some(EngineChoice::Docker(_)));
    let running = if decided {
        None
    } else {
        running(ctx, required)?
    };
    select_given(ctx, e, running)
}

/// Chooses the rules, the running engine already asked (None: not asked).
pub fn select_given(
    ctx: &Context,
    e: &EngineArgs,
    running: Option<Result<Engine, String>>,
) -> anyhow::Result<Selected> {
    let choice = e.engine.as_deref().map(EngineChoice::parse).transpose()?;
    let (running, unreachable) = match running {
        Some(Ok(a)) => (Some(a), None),
        Some(Err(err)) => (None, Some(err)),
        None => (None, None),
    };
    if e.rootless.is_some() {
        if let Some(EngineChoice::Docker(_)) = choice {
            return Err(Error::invalid(
                "--rootless predicts Podman; it does not go with --engine docker:VERSION",
            )
            .into());
        }
        return Ok(Selected {
            rules: Some(RuleSet::PodmanRootless),
            why: "--rootless".into(),
            engine: running,
        });
    }
    if let Some(EngineChoice::Docker(v)) = choice {
        return Ok(Selected {
            rules: Some(RuleSet::for_docker(v)),
            why: format!("--engine docker:{v}"),
            engine: running,
        });
    }
    if let Some(EngineChoice::Podman) = choice {
        let podman = running.filter(|r| r.kind == engine::EngineKind::Podman);
        return Ok(Selected {
            rules: Some(
                podman
                    .as_ref()
                    .map_or(RuleSet::PodmanRootful, Engine::rules),
            ),
            why: match &podman {
                Some(p) => format!("--engine podman: {}", p.label()),
                None => "--engine podman".into(),
            },
            engine: podman,
        });
    }
    if let Some(r) = running {
        return Ok(Selected {
            rules: Some(r.rules()),
            why: format!(
                "the running engine, {} at {}",
                r.label(),
                r.endpoint.describe()
            ),
            engine: Some(r),
        });
    }
    Ok(without_engine(ctx, unreachable))
}

/// No engine to ask: the installed Docker package's rules, else Docker's rule sets
/// must agree.
fn without_engine(ctx: &Context, unreachable: Option<String>) -> Selected {
    let no_engine = match &unreachable {
        Some(e) => format!("no engine answered ({e})"),
        None => "no engine asked (--root is not /)".into(),
    };
    match engine::installed_docker(&ctx.root) {
        Some((pkg, v)) => Selected {
            rules: Some(RuleSet::for_docker(v)),
            why: format!("the installed package {pkg} {v}; {no_engine}"),
            engine: None,
        },
        None => Selected {
            rules: None,
            why: format!(
                "{no_engine} and no Docker package is installed: Docker's rule sets must agree"
            ),
            engine: None,
        },
    }
}

/// Podman's settings: the running Podman's, else those below the root.
pub fn podman_settings(ctx: &Context, sel: &Selected) -> anyhow::Result<PodmanSettings> {
    if let Some(Engine {
        remap: RemapConfig::Podman(s),
        ..
    }) = &sel.engine
    {
        return Ok(s.clone());
    }
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let env = ConfEnv::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())), None);
    Ok(PodmanSettings::load(&ctx.root, &env)?)
}

/// Podman's `--userns` from `--keep-id`/`--auto`, else `default`.
fn userns(e: &EngineArgs, default: Userns) -> anyhow::Result<Userns> {
    if let Some(k) = &e.keep_id {
        let (uid, gid) = match k {
            None => (None, None),
            Some(s) => {
                let (u, g) = s.split_once(':').unwrap_or((s, s));
                (Some(parse_id(u)?), Some(parse_id(g)?))
            }
        };
        return Ok(Userns::KeepId { uid, gid });
    }
    if let Some(size) = e.auto {
        return Ok(Userns::Auto { size });
    }
    Ok(default)
}

/// What to predict: SPEC, `--rootless USER`, Podman, or the running engine's own setting.
pub fn target(
    spec: Option<&str>,
    e: &EngineArgs,
    sel: &Selected,
    settings: &PodmanSettings,
) -> anyhow::Result<Target> {
    let configured = || hostmatch::podman::configured_userns(settings).unwrap_or(Userns::Host);
    if let Some(user) = &e.rootless {
        return Ok(Target::PodmanRootless {
            user: user.clone(),
            userns: userns(e, configured())?,
        });
    }
    let podman_flags = e.keep_id.is_some() || e.auto.is_some();
    match (spec, sel.rules) {
        (Some(_), Some(r)) if !r.is_docker() => Err(Error::invalid(format!(
            "SPEC is Docker's userns-remap setting, but the rules are {} ({}): leave SPEC out, or pass --engine docker:VERSION",
            r.name(),
            sel.why
        ))
        .into()),
        (Some(_), _) if podman_flags => {
            Err(Error::invalid("--keep-id and --auto are Podman's: they do not go with SPEC").into())
        }
        (Some(s), _) => Ok(Target::Docker(s.to_string())),
        (None, Some(RuleSet::PodmanRootful)) => Ok(Target::PodmanRootful(userns(e, configured())?)),
        (None, Some(RuleSet::PodmanRootless)) => match sel.engine.as_ref().map(|x| &x.privilege) {
            Some(Privilege::Rootless { uid, user }) => Ok(Target::PodmanRootless {
                user: user.clone().unwrap_or_else(|| uid.to_string()),
                userns: userns(e, configured())?,
            }),
            _ => Err(Error::invalid("give --rootless USER").into()),
        },
        (None, _) if podman_flags => Err(Error::invalid(
            "--keep-id and --auto are Podman's: add --engine podman or --rootless USER",
        )
        .into()),
        (None, _) => match &sel.engine {
            Some(Engine {
                remap: RemapConfig::Docker { spec: Some(s), .. },
                ..
            }) => Ok(Target::Docker(s.clone())),
            Some(r) => Err(Error::invalid(format!(
                "{} has no userns-remap setting (container ids are host ids); give SPEC to predict one",
                r.label()
            ))
            .into()),
            None => Err(Error::invalid(
                "give SPEC (Docker's userns-remap setting; --remap SPEC for volume prepare and group link), --rootless USER or --engine podman",
            )
            .into()),
        },
    }
}

/// A prediction and the rules behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Predicted {
    #[serde(flatten)]
    pub prediction: Prediction,
    /// Every rule set that gives this answer.
    pub rule_sets: Vec<RuleSet>,
    /// Why these rules.
    pub chosen_by: String,
}

impl Predicted {
    /// The rule sets and why, for JSON.
    pub fn rules_json(&self) -> serde_json::Value {
        serde_json::json!({
            "rule_sets": self.rule_sets,
            "chosen_by": self.chosen_by,
            "warnings": self.prediction.warnings,
        })
    }

    /// `rules: docker-up-to-27 (the running engine, ...)`.
    pub fn rules_line(&self) -> String {
        let names: Vec<&str> = self.rule_sets.iter().map(|r| r.name()).collect();
        format!("rules: {} ({})", names.join(" and "), self.chosen_by)
    }
}

/// The maps for SPEC (Docker's userns-remap setting), else for the engine options, else
/// for the running engine's own setting, by the rules [`select`] chooses: what `map`,
/// `translate`, `volume prepare` and `group link` predict with.
pub fn predict_maps(
    ctx: &Context,
    spec: Option<&str>,
    e: &EngineArgs,
) -> anyhow::Result<Predicted> {
    let own_setting = spec.is_none() && e.engine.is_none() && e.rootless.is_none();
    let sel = select(ctx, e, own_setting)?;
    let settings = podman_settings(ctx, &sel)?;
    let target = target(spec, e, &sel, &settings)?;
    predict(ctx, &target, &sel, &settings)
}

/// Predicts `target` by the selected rules.
pub fn predict(
    ctx: &Context,
    target: &Target,
    sel: &Selected,
    settings: &PodmanSettings,
) -> anyhow::Result<Predicted> {
    if let Target::Docker(spec) = target {
        let accounts = hostmatch::accounts::Accounts::load(&ctx.root)?;
        remap::check_spec(&accounts, spec)?;
    }
    let inputs = Inputs::load(&ctx.root)?;
    let (prediction, rule_sets) = match (target, sel.rules) {
        (Target::Docker(spec), None) => remap::predict_any_docker(&inputs, spec)?,
        (_, Some(r)) => (
            remap::predict_target(&inputs, target, r, settings)?,
            vec![r],
        ),
        (_, None) => (
            remap::predict_target(&inputs, target, RuleSet::PodmanRootful, settings)?,
            vec![RuleSet::PodmanRootful],
        ),
    };
    Ok(Predicted {
        prediction,
        rule_sets,
        chosen_by: sel.why.clone(),
    })
}
