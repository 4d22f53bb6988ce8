//! `RunOptions`: how to run (seed, engine mode, limits, checks), not what.

use super::faults::Fault;
use super::{ensure, ensure_float};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// How the engine advances time. Results are identical in every mode; the
/// modes differ only in speed, and `tick_all` exists to prove that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineMode {
    /// Tick the next cycle while anything is busy; when everything is idle,
    /// jump straight to the next scheduled event (arrival, injection).
    #[default]
    Auto,
    /// Tick every cycle (debug reference).
    TickAll,
}

/// Which model of the fabric runs the workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Every flit, credit and DRAM command, cycle by cycle (the reference).
    #[default]
    Cycle,
    /// Each message a flow along its route, link capacities shared max-min
    /// fairly (`crate::flow`): for scale; cross-checked against `Cycle`.
    Flow,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    /// Run seed; every component's random stream derives from it.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub engine: EngineMode,
    #[serde(default)]
    pub fidelity: Fidelity,
    /// Stop with `Limit` after this many cycles of the fabric clock.
    #[serde(default)]
    pub max_cycles: Option<u64>,
    /// Stop with `Limit` once simulated time passes this.
    #[serde(default)]
    pub max_time_ns: Option<f64>,
    /// Report a deadlock when work is pending and no flit has moved for this
    /// many cycles (a quiescent fabric with pending work is reported at once).
    #[serde(default = "default_watchdog")]
    pub watchdog_cycles: u64,
    /// Check conservation invariants every cycle (slower; for tests/fuzzing).
    #[serde(default)]
    pub check_invariants: bool,
    /// Scripted faults (corrupt a flit, drop an ACK or a credit return,
    /// take a link down).
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Read every link direction's flit counter at about this many evenly
    /// spaced times during the run (0: never; see `link_samples`).
    #[serde(default)]
    pub link_samples: u32,
    /// Return the per-message columns (send and delivery times, order,
    /// corruption; a collective's message-to-send map). Off, a run keeps
    /// only its summaries (links, per-operation times): at scale the
    /// columns are the largest part of a result.
    #[serde(default = "default_keep_messages")]
    pub keep_messages: bool,
    /// Record when each message crossed each link direction, up to this
    /// many crossings (0: never; see `link_spans`).
    #[serde(default)]
    pub link_spans: u64,
}

fn default_keep_messages() -> bool {
    true
}

/// The most link samples a run keeps (each holds every link's counter).
pub const MAX_LINK_SAMPLES: u32 = 100_000;

/// The most link crossings a run records (24 bytes each in the engine,
/// 48 more as numpy columns: under 1.5 GB in all).
pub const MAX_LINK_SPANS: u64 = 20_000_000;

fn default_watchdog() -> u64 {
    1_000_000
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            engine: EngineMode::Auto,
            fidelity: Fidelity::Cycle,
            max_cycles: None,
            max_time_ns: None,
            watchdog_cycles: default_watchdog(),
            check_invariants: false,
            faults: Vec::new(),
            link_samples: 0,
            keep_messages: true,
            link_spans: 0,
        }
    }
}

impl RunOptions {
    /// The first cycle of `clock` not to simulate (from `max_cycles` and
    /// `max_time_ns`; `Cycle::MAX` without a limit).
    pub fn limit_cycle(&self, clock: crate::time::ClockDomain) -> crate::time::Cycle {
        let mut limit = self.max_cycles.unwrap_or(crate::time::Cycle::MAX);
        if let Some(t) = self.max_time_ns {
            limit = limit.min(clock.cycle_at_or_after(super::link::ns_to_ps(t).saturating_add(1)));
        }
        limit
    }

    pub fn validate(&self) -> Result<()> {
        ensure(
            self.watchdog_cycles >= 1,
            "watchdog_cycles",
            ">= 1",
            self.watchdog_cycles,
        )?;
        if let Some(t) = self.max_time_ns {
            ensure_float(t, "max_time_ns", 0.0, false)?;
        }
        ensure(
            self.link_samples <= MAX_LINK_SAMPLES,
            "link_samples",
            "0..=100000",
            self.link_samples,
        )?;
        ensure(
            self.link_spans <= MAX_LINK_SPANS,
            "link_spans",
            "0..=20000000",
            self.link_spans,
        )?;
        Ok(())
    }
}
