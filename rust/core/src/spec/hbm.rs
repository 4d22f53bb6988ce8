//! `HbmSpec`: one HBM stack's organization and JEDEC timing table.
//!
//! Timings are in cycles of the command clock CK (`tck_ns`), as JEDEC tables
//! and the public simulators give them (Ramulator 2 lists them "in CK cycles
//! before its tick multiplier"; see shared/reference/hbm_presets_reference.csv).
//! The controller model and the independent checker both read this table.

use super::ensure;
use super::ensure_float;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

fn one() -> u32 {
    1
}

/// JEDEC timing constraints, in CK cycles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HbmTiming {
    /// Burst: CK cycles one RD or WR occupies the data bus.
    pub bl: u32,
    /// Read latency (RD to first data) and write latency (WR to first data).
    pub cl: u32,
    pub cwl: u32,
    /// ACT to RD, ACT to WR (same bank).
    pub rcd_rd: u32,
    pub rcd_wr: u32,
    /// PRE to ACT, ACT to PRE, ACT to ACT (same bank).
    pub rp: u32,
    pub ras: u32,
    pub rc: u32,
    /// Write recovery: end of write data to PRE (same bank).
    pub wr: u32,
    /// RD to PRE (same bank).
    pub rtp: u32,
    /// Column to column: different / same bank group.
    pub ccd_s: u32,
    pub ccd_l: u32,
    /// ACT to ACT, different banks: different / same bank group.
    pub rrd_s: u32,
    pub rrd_l: u32,
    /// End of write data to RD: different / same bank group.
    pub wtr_s: u32,
    pub wtr_l: u32,
    /// RD to WR (any bank of the pseudo-channel).
    pub rtw: u32,
    /// Four-activate window (per pseudo-channel).
    pub faw: u32,
    /// All-bank refresh: REFab to any ACT; single-bank: REFsb to ACT of that bank.
    pub rfc: u32,
    pub rfc_sb: u32,
    /// Average refresh intervals: all-bank, single-bank.
    pub refi: u32,
    pub refi_sb: u32,
}

/// An HBM stack as the user writes it. Field names are part of the contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HbmSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sources: Vec<String>,
    /// JEDEC generation, for reports ("HBM3").
    #[serde(default)]
    pub standard: String,
    /// Independent channels of the stack, and pseudo-channels per channel
    /// (1 for the legacy 128-bit mode).
    pub channels: u32,
    pub pseudo_channels: u32,
    /// Stack IDs (die groups of an 8-high or 16-high stack) per
    /// pseudo-channel, each with its own bank groups. Between SIDs the `_s`
    /// constraints apply and tFAW spans the whole pseudo-channel; HBM3's
    /// tCCD_R (between SIDs, a cycle longer than tCCD_S) is not modelled yet.
    #[serde(default = "one")]
    pub sids: u32,
    pub bank_groups: u32,
    pub banks_per_group: u32,
    pub rows: u32,
    /// Column accesses (bursts) per row.
    pub columns: u32,
    /// Data pins of one pseudo-channel.
    pub dq_bits: u32,
    /// Data beats of one burst (BL4, BL8).
    pub burst_length: u32,
    /// Data rate per pin, Mb/s.
    pub data_rate_mbps: f64,
    /// Command clock period, ns.
    pub tck_ns: f64,
    pub timing: HbmTiming,
}

impl HbmSpec {
    pub fn validate(&self) -> Result<()> {
        for (name, v, max) in [
            ("channels", self.channels, 256),
            ("pseudo_channels", self.pseudo_channels, 8),
            ("sids", self.sids, 8),
            ("bank_groups", self.bank_groups, 64),
            ("banks_per_group", self.banks_per_group, 64),
            ("rows", self.rows, 1 << 24),
            ("columns", self.columns, 1 << 16),
            ("dq_bits", self.dq_bits, 1024),
            ("burst_length", self.burst_length, 64),
        ] {
            ensure((1..=max).contains(&v), name, &format!("in 1..={max}"), v)?;
        }
        ensure_float(self.data_rate_mbps, "data_rate_mbps", 0.0, true)?;
        ensure_float(self.tck_ns, "tck_ns", 0.001, false)?;
        let t = &self.timing;
        for (name, v) in [
            ("bl", t.bl),
            ("cl", t.cl),
            ("cwl", t.cwl),
            ("rcd_rd", t.rcd_rd),
            ("rcd_wr", t.rcd_wr),
            ("rp", t.rp),
            ("ras", t.ras),
            ("rc", t.rc),
            ("ccd_s", t.ccd_s),
            ("ccd_l", t.ccd_l),
            ("rrd_s", t.rrd_s),
            ("rrd_l", t.rrd_l),
            ("faw", t.faw),
            ("rfc", t.rfc),
            ("refi", t.refi),
        ] {
            ensure(v >= 1, &format!("timing.{name}"), ">= 1 cycle", v)?;
        }
        // The data of one burst must fit the burst cycles: BL beats at the
        // pin rate last bl x tCK.
        let burst_ns = self.burst_length as f64 / (self.data_rate_mbps / 1000.0);
        let bus_ns = t.bl as f64 * self.tck_ns;
        if (burst_ns - bus_ns).abs() > 1e-3 * bus_ns {
            return Err(Error::spec(
                "timing.bl",
                format!(
                    "is {} cycles of {} ns = {bus_ns} ns, but a burst of {} beats at {} Mb/s takes {burst_ns} ns",
                    t.bl, self.tck_ns, self.burst_length, self.data_rate_mbps
                ),
            ));
        }
        ensure(
            t.rc >= t.ras,
            "timing.rc",
            &format!(">= timing.ras ({})", t.ras),
            t.rc,
        )?;
        ensure(
            t.ccd_l >= t.ccd_s,
            "timing.ccd_l",
            &format!(">= timing.ccd_s ({})", t.ccd_s),
            t.ccd_l,
        )?;
        ensure(
            t.rrd_l >= t.rrd_s,
            "timing.rrd_l",
            &format!(">= timing.rrd_s ({})", t.rrd_s),
            t.rrd_l,
        )?;
        Ok(())
    }

    /// Bytes one RD or WR moves.
    pub fn access_bytes(&self) -> u64 {
        self.dq_bits as u64 * self.burst_length as u64 / 8
    }

    /// Peak bandwidth of the whole stack, GB/s (all channels and
    /// pseudo-channels streaming at the pin rate).
    pub fn peak_gbyte_per_s(&self) -> f64 {
        let per_pc = self.data_rate_mbps / 1000.0 * self.dq_bits as f64 / 8.0;
        per_pc * (self.channels * self.pseudo_channels) as f64
    }

    /// Capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        let banks = self.sids as u64 * self.bank_groups as u64 * self.banks_per_group as u64;
        self.channels as u64
            * self.pseudo_channels as u64
            * banks
            * self.rows as u64
            * self.columns as u64
            * self.access_bytes()
    }
}
