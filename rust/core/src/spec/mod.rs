//! Everything a user can set, as serde structs with `deny_unknown_fields`.
//!
//! Three stages (as in ruff's options -> settings): the raw spec as written
//! (TOML or JSON from Python), validated with errors that name the field,
//! then resolved into the integer tables the engine runs on
//! (e.g. [`link::LinkParams`]). The engine never sees a float or a string.

pub mod case;
pub mod endpoint;
pub mod fabric;
pub mod faults;
pub mod hbm;
pub mod link;
pub mod memfabric;
pub mod memory;
pub mod parse;
pub mod presets;
pub mod reliability;
pub mod run;

pub use endpoint::EndpointSpec;
pub use fabric::{
    Allocator, FabricSpec, NetworkLinks, RouterSpec, RouterStages, RouterTiming, SpineChoice,
    Switching, TopologySpec, VcAllocator,
};
pub use link::{LinkParams, LinkSpec, Packing};
pub use reliability::{BurstSpec, Retry};
pub use run::{EngineMode, Fidelity, RunOptions};

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

/// A spec type of the text API: parsed, validated and written the same way.
pub trait Spec: serde::Serialize + serde::de::DeserializeOwned {
    /// Checks every field; the error names the first bad one.
    fn check(&self) -> Result<()>;
    /// Legal but unsafe settings, explained.
    fn unsafe_settings(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Spec for LinkSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
    fn unsafe_settings(&self) -> Vec<String> {
        self.warnings()
    }
}

impl Spec for EndpointSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

/// The link's unsafe settings, named as fields of the enclosing spec.
fn link_warnings(link: &LinkSpec) -> Vec<String> {
    link.warnings()
        .into_iter()
        .map(|w| format!("link: {w}"))
        .collect()
}

impl Spec for FabricSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
    fn unsafe_settings(&self) -> Vec<String> {
        link_warnings(&self.link)
    }
}

impl Spec for RouterSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl Spec for hbm::HbmSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl Spec for memory::ControllerSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl Spec for memfabric::ProtocolSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl Spec for RunOptions {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl Spec for case::CaseSpec {
    fn check(&self) -> Result<()> {
        self.validate()
    }
    fn unsafe_settings(&self) -> Vec<String> {
        link_warnings(&self.link)
    }
}

/// The spec kinds the text API knows.
pub const SPEC_KINDS: &[&str] = &[
    "link",
    "endpoint",
    "router",
    "fabric",
    "options",
    "case",
    "hbm",
    "controller",
    "protocol",
];

/// Calls the generic `$f::<T>(args)` for the spec type named by `$kind`.
macro_rules! by_kind {
    ($kind:expr, $f:ident($($arg:expr),*)) => {
        match $kind {
            "link" => $f::<LinkSpec>($($arg),*),
            "endpoint" => $f::<EndpointSpec>($($arg),*),
            "router" => $f::<RouterSpec>($($arg),*),
            "fabric" => $f::<FabricSpec>($($arg),*),
            "options" => $f::<RunOptions>($($arg),*),
            "case" => $f::<case::CaseSpec>($($arg),*),
            "hbm" => $f::<hbm::HbmSpec>($($arg),*),
            "controller" => $f::<memory::ControllerSpec>($($arg),*),
            "protocol" => $f::<memfabric::ProtocolSpec>($($arg),*),
            other => Err(unknown_kind(other)),
        }
    };
}

/// Parses JSON of spec `kind`, validates it, and returns it as JSON with
/// every default filled in: the canonical form a front end stores.
pub fn normalize_json(kind: &str, text: &str) -> Result<String> {
    fn go<T: Spec>(kind: &str, text: &str) -> Result<String> {
        canonical(kind, parse::from_json::<T>(text, kind)?)
    }
    by_kind!(kind, go(kind, text))
}

/// Parses TOML of spec `kind` (`origin` names the file in errors), validates
/// it, and returns the canonical JSON.
pub fn toml_to_json(kind: &str, text: &str, origin: &str) -> Result<String> {
    fn go<T: Spec>(kind: &str, text: &str, origin: &str) -> Result<String> {
        canonical(
            kind,
            parse::from_toml::<T>(text, kind).map_err(|e| e.within(origin))?,
        )
    }
    by_kind!(kind, go(kind, text, origin))
}

/// Any TOML document as JSON (for files that are not one spec, such as
/// experiment files); a syntax error names `origin` and the line.
pub fn toml_document_to_json(text: &str, origin: &str) -> Result<String> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| Error::spec(origin, format!("not TOML: {e}")))?;
    serde_json::to_string(&table).map_err(|e| Error::spec(origin, e.to_string()))
}

/// Warnings about legal but unsafe settings in canonical JSON of spec `kind`.
pub fn warnings_json(kind: &str, text: &str) -> Result<Vec<String>> {
    fn go<T: Spec>(kind: &str, text: &str) -> Result<Vec<String>> {
        Ok(parse::from_json::<T>(text, kind)?.unsafe_settings())
    }
    by_kind!(kind, go(kind, text))
}

/// Writes canonical JSON of spec `kind` as TOML.
pub fn json_to_toml(kind: &str, text: &str) -> Result<String> {
    fn go<T: Spec>(kind: &str, text: &str) -> Result<String> {
        parse::to_toml(&parse::from_json::<T>(text, kind)?)
    }
    by_kind!(kind, go(kind, text))
}

fn canonical<T: Spec>(kind: &str, spec: T) -> Result<String> {
    // A fabric or a case validates its parts under their own names already.
    spec.check().map_err(|e| {
        if matches!(kind, "fabric" | "case") {
            e
        } else {
            e.within(kind)
        }
    })?;
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
        assert!(normalize_json("widget", "{}")
            .unwrap_err()
            .to_string()
            .contains("unknown spec kind"));
    }
}
