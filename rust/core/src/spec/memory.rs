//! `ControllerSpec`: how the per-pseudo-channel HBM controllers schedule
//! (queues, scheduler, page policy, write drain, refresh, address mapping).

use super::ensure;
use crate::error::Result;
use crate::hbm::mapping::AddressMapping;
use serde::{Deserialize, Serialize};

/// Which ready command a controller issues first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    /// Oldest ready command first; an older request may close a row that
    /// younger ones hit.
    Fcfs,
    /// First-ready FCFS: row hits first, then the oldest; a row is not
    /// closed while queued requests hit it, unless `starvation_cap` hits have
    /// been served from it since it opened (then the oldest request wins).
    #[default]
    Frfcfs,
}

/// When a controller closes a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagePolicy {
    /// Keep rows open until a request for another row (or refresh) needs the bank.
    #[default]
    Open,
    /// Close a row as soon as no queued request hits it.
    Closed,
    /// Close a row once no queued request hits it and it has been idle for
    /// `page_timeout_cycles`.
    OpenTimeout,
}

/// Refresh mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshMode {
    /// REFab: every `refi` cycles each pseudo-channel closes all banks and
    /// refreshes them for `rfc` cycles (staggered across pseudo-channels).
    AllBank,
    /// REFsb: every `refi_sb` cycles one bank is refreshed for `rfc_sb`
    /// cycles while the others keep working; each bank once per round of
    /// REFsb, idle banks first.
    #[default]
    PerBank,
    /// No refresh (for experiments only: real DRAM loses its data).
    Off,
}

fn d_cap() -> u32 {
    16
}
fn d_queue() -> u32 {
    64
}
fn d_high() -> u32 {
    48
}
fn d_low() -> u32 {
    16
}
fn d_timeout() -> u32 {
    64
}
fn d_mapping() -> String {
    AddressMapping::DEFAULT.to_string()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerSpec {
    #[serde(default)]
    pub scheduler: SchedulerKind,
    /// FR-FCFS: row hits served from one open row, while another request
    /// waits for that bank, before the waiting request wins.
    #[serde(default = "d_cap")]
    pub starvation_cap: u32,
    #[serde(default)]
    pub page_policy: PagePolicy,
    #[serde(default = "d_timeout")]
    pub page_timeout_cycles: u32,
    /// Entries (one per access of `access_bytes`) of each pseudo-channel's
    /// read and write queues.
    #[serde(default = "d_queue")]
    pub read_queue: u32,
    #[serde(default = "d_queue")]
    pub write_queue: u32,
    /// Write drain starts when the write queue holds `write_high` entries
    /// (or no read waits) and stops at `write_low` (when reads wait).
    #[serde(default = "d_high")]
    pub write_high: u32,
    #[serde(default = "d_low")]
    pub write_low: u32,
    #[serde(default)]
    pub refresh: RefreshMode,
    /// Address bits from most to least significant, as two-letter fields:
    /// `Ro` row, `Sd` stack ID, `Ba` bank, `Bg` bank group, `Co` column,
    /// `Pc` pseudo-channel, `Ch` channel (below them: the offset within one access).
    #[serde(default = "d_mapping")]
    pub mapping: String,
    /// XOR the bank-group and bank bits with the low row bits (spreads
    /// row conflicts of strided streams over banks).
    #[serde(default)]
    pub xor_bank_hash: bool,
}

impl Default for ControllerSpec {
    fn default() -> Self {
        crate::spec::parse::from_json("{}", "controller").expect("all fields have defaults")
    }
}

impl ControllerSpec {
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("read_queue", self.read_queue),
            ("write_queue", self.write_queue),
        ] {
            ensure((1..=4096).contains(&v), name, "in 1..=4096", v)?;
        }
        ensure(
            self.write_high <= self.write_queue && self.write_high >= 1,
            "write_high",
            &format!("in 1..=write_queue ({})", self.write_queue),
            self.write_high,
        )?;
        ensure(
            self.write_low < self.write_high,
            "write_low",
            &format!("< write_high ({})", self.write_high),
            self.write_low,
        )?;
        ensure(
            self.starvation_cap >= 1,
            "starvation_cap",
            ">= 1",
            self.starvation_cap,
        )?;
        ensure(
            self.page_timeout_cycles >= 1,
            "page_timeout_cycles",
            ">= 1",
            self.page_timeout_cycles,
        )?;
        AddressMapping::parse_fields(&self.mapping)?;
        Ok(())
    }
}
