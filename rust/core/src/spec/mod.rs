//! Everything a user can set, as serde structs with `deny_unknown_fields`.
//!
//! Three stages (as in ruff's options -> settings): the raw spec as written
//! (TOML or JSON from Python), validated with errors that name the field,
//! then resolved into the integer tables the engine runs on
//! (e.g. [`link::LinkParams`]). The engine never sees a float or a string.

pub mod endpoint;
pub mod fabric;
pub mod link;
pub mod parse;
pub mod presets;
pub mod run;

pub use endpoint::EndpointSpec;
pub use fabric::{FabricSpec, TopologySpec};
pub use link::{LinkParams, LinkSpec};
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
