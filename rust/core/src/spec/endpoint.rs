//! `EndpointSpec`: what an endpoint's network interface does with arriving flits.

use super::ensure_float;
use crate::error::Result;
use crate::time::ClockDomain;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Rate at which the receiver consumes flits from its buffers, Gb/s of
    /// wire bytes. `None` (the default): as fast as they arrive. `0` models a
    /// stuck consumer (never drains): legal, so that fuzzing can show what it
    /// breaks, and runs end in a deadlock report.
    #[serde(default)]
    pub drain_gbps: Option<f64>,
}

/// A token bucket that paces draining in the link's clock, exactly, in integers.
///
/// Each cycle adds `add` tokens (capped at `cap`); draining one flit costs
/// `cost`. With a period of `num/den` ps and a rate of `r` kb/s, one cycle
/// drains `num * r / (den * 1e9)` flit-bits, so `add = num * r` and
/// `cost = flit_bits * den * 1e9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainParams {
    pub add: u128,
    pub cost: u128,
    pub cap: u128,
}

impl EndpointSpec {
    pub fn validate(&self) -> Result<()> {
        if let Some(r) = self.drain_gbps {
            ensure_float(r, "drain_gbps", 0.0, false)?;
        }
        Ok(())
    }

    /// The drain pacing in a link clock with flits of `flit_bytes`; `None`
    /// when draining is unlimited.
    pub fn drain_params(&self, clock: ClockDomain, flit_bytes: u32) -> Option<DrainParams> {
        let rate_kbps = (self.drain_gbps? * 1.0e6).round() as u128;
        let (num, den) = clock.ratio();
        let add = num as u128 * rate_kbps;
        let cost = flit_bytes as u128 * 8 * den as u128 * 1_000_000_000;
        Some(DrainParams {
            add,
            cost,
            cap: add.max(cost),
        })
    }
}
