//! Everything a user can set, as serde structs with `deny_unknown_fields`.
//!
//! Three stages (as in ruff's options -> settings): the raw spec as written
//! (TOML or JSON from Python), validated with errors that name the field,
//! then resolved into the integer tables the engine runs on
//! (e.g. [`link::LinkParams`]). The engine never sees a float or a string.

pub mod endpoint;
pub mod fabric;
pub mod faults;
pub mod link;
pub mod parse;
pub mod presets;
pub mod reliability;
pub mod run;

pub use endpoint::EndpointSpec;
pub use fabric::{FabricSpec, TopologySpec};
pub use link::{LinkParams, LinkSpec, Packing};
pub use reliability::{BurstSpec, Retry};
pub use run::{EngineMode, RunOptions};

use crate::error::{Error, Result};

/// Checks `ok`, else a spec error at `path` saying `got` and what is `allowed`.
pub(crate) fn ensure(
    ok: bool,
    path: &str,
    allowed: &str,
    got: impl std::fmt::Display,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::spec(path, format!("must be {allowed}, got {got}")))
    }
}

/// Checks that a float field is finite and within `[min, +inf)` (or `(min, +inf)`
/// when `strict`).
pub(crate) fn ensure_float(value: f64, path: &str, min: f64, strict: bool) -> Result<()> {
    let ok = value.is_finite() && if strict { value > min } else { value >= min };
    let allowed = if strict {
        format!("a finite number > {min}")
    } else {
        format!("a finite number >= {min}")
    };
    ensure(ok, path, &allowed, value)
}

/// The spec kinds the text API below knows.
pub const SPEC_KINDS: &[&str] = &["link", "endpoint", "fabric", "options"];

/// Parses JSON of spec `kind`, validates it, and returns it as JSON with
/// every default filled in: the canonical form a front end stores.
pub fn normalize_json(kind: &str, text: &str) -> Result<String> {
    match kind {
        "link" => canonical::<LinkSpec>(kind, parse::from_json(text, kind)?, |s| s.validate()),
        "endpoint" => {
            canonical::<EndpointSpec>(kind, parse::from_json(text, kind)?, |s| s.validate())
        }
        "fabric" => canonical::<FabricSpec>(kind, parse::from_json(text, kind)?, |s| s.validate()),
        "options" => canonical::<RunOptions>(kind, parse::from_json(text, kind)?, |s| s.validate()),
        _ => Err(unknown_kind(kind)),
    }
}

/// Parses TOML of spec `kind` (`origin` names the file in errors), validates
/// it, and returns the canonical JSON.
pub fn toml_to_json(kind: &str, text: &str, origin: &str) -> Result<String> {
    let at = |e: Error| e.within(origin);
    match kind {
        "link" => canonical::<LinkSpec>(kind, parse::from_toml(text, kind).map_err(at)?, |s| {
            s.validate()
        }),
        "endpoint" => {
            canonical::<EndpointSpec>(kind, parse::from_toml(text, kind).map_err(at)?, |s| {
                s.validate()
            })
        }
        "fabric" => canonical::<FabricSpec>(kind, parse::from_toml(text, kind).map_err(at)?, |s| {
            s.validate()
        }),
        "options" => {
            canonical::<RunOptions>(kind, parse::from_toml(text, kind).map_err(at)?, |s| {
                s.validate()
            })
        }
        _ => Err(unknown_kind(kind)),
    }
}

/// Writes canonical JSON of spec `kind` as TOML.
pub fn json_to_toml(kind: &str, text: &str) -> Result<String> {
    match kind {
        "link" => parse::to_toml(&parse::from_json::<LinkSpec>(text, kind)?),
        "endpoint" => parse::to_toml(&parse::from_json::<EndpointSpec>(text, kind)?),
        "fabric" => parse::to_toml(&parse::from_json::<FabricSpec>(text, kind)?),
        "options" => parse::to_toml(&parse::from_json::<RunOptions>(text, kind)?),
        _ => Err(unknown_kind(kind)),
    }
}

fn canonical<T: serde::Serialize>(
    kind: &str,
    spec: T,
    validate: impl Fn(&T) -> Result<()>,
) -> Result<String> {
    // A fabric validates its parts under their own names already.
    validate(&spec).map_err(|e| if kind == "fabric" { e } else { e.within(kind) })?;
    Ok(parse::to_json(&spec))
}

fn unknown_kind(kind: &str) -> Error {
    Error::spec(
        "kind",
        format!(
            "unknown spec kind {kind:?}; known: {}",
            SPEC_KINDS.join(", ")
        ),
    )
}

#[cfg(test)]
mod text_api_tests {
    use super::*;

    #[test]
    fn normalize_fills_defaults_and_round_trips_through_toml() {
        let json = normalize_json(
            "link",
            r#"{"lanes": 4, "gbps_per_lane": 32, "flit_bytes": 68, "mtu_bytes": 64, "credits_per_vc": 8}"#,
        )
        .unwrap();
        assert!(json.contains(r#""vcs":1"#), "{json}");
        let toml = json_to_toml("link", &json).unwrap();
        let back = toml_to_json("link", &toml, "x.toml").unwrap();
        assert_eq!(json, back);
    }

    #[test]
    fn errors_carry_the_origin_and_field() {
        let e = toml_to_json("link", "lanes = 0\n", "my.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("my.toml.link"), "{e}");
        let e = normalize_json(
            "link",
            r#"{"lanes": 0, "gbps_per_lane": 32, "flit_bytes": 68, "mtu_bytes": 64, "credits_per_vc": 8}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("link.lanes: must be in 1..="), "{e}");
        assert!(normalize_json("hbm", "{}")
            .unwrap_err()
            .to_string()
            .contains("unknown spec kind"));
    }
}
