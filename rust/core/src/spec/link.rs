//! `LinkSpec`: one physical link type (lanes, rate, flits, VCs, credits).

use super::reliability::{self, BurstSpec, ReliabilityParams, Retry};
use super::{ensure, ensure_float};
use crate::error::{Error, Result};
use crate::time::ClockDomain;
use serde::{Deserialize, Serialize};

/// A link as the user writes it. Field names are part of the public contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Preset or user label (metadata only).
    #[serde(default)]
    pub name: String,
    /// One line on what the link models (metadata only).
    #[serde(default)]
    pub description: String,
    /// Public sources of the numbers (metadata only).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Lanes per direction.
    pub lanes: u32,
    /// Raw signalling rate of one lane, Gb/s (after line coding).
    pub gbps_per_lane: f64,
    /// Bytes of one flit on the wire, overhead included.
    pub flit_bytes: u32,
    /// Bytes of each flit that are not payload (flit header, CRC, FEC).
    #[serde(default)]
    pub flit_overhead_bytes: u32,
    /// Bytes of each packet that are not payload (e.g. a TLP header); they
    /// travel in the flits' payload area.
    #[serde(default)]
    pub packet_overhead_bytes: u32,
    /// Largest payload of one packet; messages are split into packets of it.
    pub mtu_bytes: u32,
    /// How packets fill flits: `padded` (each packet starts a new flit, as in
    /// a NoC's wormhole packets) or `packed` (the packets of a message are laid
    /// back to back and may straddle flits, as TLPs in PCIe 6 / CXL 256 B flit
    /// containers; only a message's last flit is padded).
    #[serde(default)]
    pub packing: Packing,
    /// Propagation latency, from a flit's last bit leaving to it arriving.
    #[serde(default)]
    pub latency_ns: f64,
    /// Virtual channels per direction, each with its own receive buffer.
    #[serde(default = "default_vcs")]
    pub vcs: u32,
    /// Receive buffer per VC, in flits (the sender's initial credits).
    pub credits_per_vc: u32,
    /// Time from the receiver freeing a buffer to the sender being able to
    /// reuse that credit (the whole return path). At least one cycle is
    /// always taken.
    #[serde(default)]
    pub credit_return_ns: f64,
    /// The receiver returns credits in batches of this many freed buffers
    /// (per VC). More than `credits_per_vc` can never be reached: it runs
    /// (with a warning) and deadlocks, as real fabrics have.
    #[serde(default = "one")]
    pub credit_coalesce_flits: u32,

    // Reliability (see `spec::reliability`).
    /// Bit-error rate on the wire (per bit, independent errors).
    #[serde(default)]
    pub ber: f64,
    /// Error bursts (Gilbert-Elliott): off unless given.
    #[serde(default)]
    pub burst: Option<BurstSpec>,
    /// Bits per FEC symbol.
    #[serde(default = "default_fec_symbol_bits")]
    pub fec_symbol_bits: u32,
    /// Errored symbols per flit that FEC corrects (0: no FEC).
    #[serde(default)]
    pub fec_correctable_symbols: u32,
    /// CRC width: an uncorrectable flit passes the CRC undetected with
    /// probability 2^-crc_bits.
    #[serde(default = "default_crc_bits")]
    pub crc_bits: u32,
    /// Link-level retry: `go_back_n` (default) or `none` (corrupted flits
    /// are passed up marked corrupt: an upper layer's problem).
    #[serde(default)]
    pub retry: Retry,
    /// Replay buffer, in flits. Default: enough to cover the ACK round trip,
    /// so that retry never limits an error-free link.
    #[serde(default)]
    pub replay_buffer_flits: Option<u32>,
    /// Width of the sequence number on the wire. Default: 12 (as PCIe), or
    /// more if the replay window needs it (the default is always safe).
    #[serde(default)]
    pub seq_bits: Option<u32>,
    /// The receiver acknowledges after this many good flits...
    #[serde(default = "one")]
    pub ack_coalesce_flits: u32,
    /// ...or this long after the first unacknowledged one, whichever first.
    /// Default: `ack_coalesce_flits` flit times.
    #[serde(default)]
    pub ack_timer_ns: Option<f64>,
    /// The sender replays everything unacknowledged when no acknowledgement
    /// has made progress for this long. Default: three ACK round trips.
    #[serde(default)]
    pub replay_timeout_ns: Option<f64>,
}

fn one() -> u32 {
    1
}
fn default_fec_symbol_bits() -> u32 {
    8
}
fn default_crc_bits() -> u32 {
    32
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Packing {
    #[default]
    Padded,
    Packed,
}

fn default_vcs() -> u32 {
    1
}

/// Upper bounds that keep every derived quantity inside its integer type.
pub const MAX_LANES: u32 = 4096;
pub const MAX_GBPS_PER_LANE: f64 = 1.0e6;
pub const MAX_FLIT_BYTES: u32 = 65_536;
pub const MAX_MTU_BYTES: u32 = 1 << 24;
pub const MAX_VCS: u32 = 64;
pub const MAX_CREDITS_PER_VC: u32 = 1 << 20;
pub const MAX_LATENCY_NS: f64 = 1.0e9;

/// The resolved link: integers in the link's own clock, where one cycle is
/// the serialization time of one flit.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkParams {
    /// One cycle = one flit on the wire.
    pub clock: ClockDomain,
    /// Raw rate of the link, kb/s (lanes x rate).
    pub rate_kbps: u64,
    pub flit_bytes: u32,
    /// `flit_bytes - flit_overhead_bytes`.
    pub flit_payload_bytes: u32,
    pub packet_overhead_bytes: u32,
    pub mtu_bytes: u32,
    pub packing: Packing,
    pub vcs: u32,
    pub credits_per_vc: u32,
    /// Propagation latency in cycles (rounded up).
    pub latency_cycles: u64,
    /// Credit return latency in cycles (rounded up, at least 1). ACKs and
    /// NAKs travel back the same way.
    pub credit_return_cycles: u64,
    pub credit_coalesce_flits: u32,
    pub reliability: ReliabilityParams,
}

impl LinkSpec {
    /// A spec with the required fields and every other field at its default
    /// (the defaults live in the serde attributes only).
    pub fn with_defaults(
        lanes: u32,
        gbps_per_lane: f64,
        flit_bytes: u32,
        mtu_bytes: u32,
        credits_per_vc: u32,
    ) -> Self {
        let json = format!(
            r#"{{"lanes": {lanes}, "gbps_per_lane": {gbps_per_lane:?}, "flit_bytes": {flit_bytes}, "mtu_bytes": {mtu_bytes}, "credits_per_vc": {credits_per_vc}}}"#
        );
        serde_json::from_str(&json).expect("required fields only")
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        ensure(
            (1..=MAX_LANES).contains(&self.lanes),
            "lanes",
            &format!("in 1..={MAX_LANES}"),
            self.lanes,
        )?;
        ensure_float(self.gbps_per_lane, "gbps_per_lane", 0.0, true)?;
        ensure(
            self.gbps_per_lane <= MAX_GBPS_PER_LANE,
            "gbps_per_lane",
            &format!("<= {MAX_GBPS_PER_LANE}"),
            self.gbps_per_lane,
        )?;
        ensure(
            (1..=MAX_FLIT_BYTES).contains(&self.flit_bytes),
            "flit_bytes",
            &format!("in 1..={MAX_FLIT_BYTES}"),
            self.flit_bytes,
        )?;
        ensure(
            self.flit_overhead_bytes < self.flit_bytes,
            "flit_overhead_bytes",
            &format!(
                "less than flit_bytes ({}) so that a flit carries payload",
                self.flit_bytes
            ),
            self.flit_overhead_bytes,
        )?;
        ensure(
            self.packet_overhead_bytes <= MAX_MTU_BYTES,
            "packet_overhead_bytes",
            &format!("<= {MAX_MTU_BYTES}"),
            self.packet_overhead_bytes,
        )?;
        ensure(
            (1..=MAX_MTU_BYTES).contains(&self.mtu_bytes),
            "mtu_bytes",
            &format!("in 1..={MAX_MTU_BYTES}"),
            self.mtu_bytes,
        )?;
        ensure_float(self.latency_ns, "latency_ns", 0.0, false)?;
        ensure(
            self.latency_ns <= MAX_LATENCY_NS,
            "latency_ns",
            &format!("<= {MAX_LATENCY_NS}"),
            self.latency_ns,
        )?;
        ensure(
            (1..=MAX_VCS).contains(&self.vcs),
            "vcs",
            &format!("in 1..={MAX_VCS}"),
            self.vcs,
        )?;
        ensure(
            (1..=MAX_CREDITS_PER_VC).contains(&self.credits_per_vc),
            "credits_per_vc",
            &format!("in 1..={MAX_CREDITS_PER_VC}"),
            self.credits_per_vc,
        )?;
        ensure(
            (1..=MAX_CREDITS_PER_VC).contains(&self.credit_coalesce_flits),
            "credit_coalesce_flits",
            &format!("in 1..={MAX_CREDITS_PER_VC}"),
            self.credit_coalesce_flits,
        )?;
        reliability::validate(self)?;
        ensure_float(self.credit_return_ns, "credit_return_ns", 0.0, false)?;
        ensure(
            self.credit_return_ns <= MAX_LATENCY_NS,
            "credit_return_ns",
            &format!("<= {MAX_LATENCY_NS}"),
            self.credit_return_ns,
        )?;
        Ok(())
    }

    /// Validates and resolves into engine integers.
    pub fn resolve(&self) -> Result<LinkParams> {
        self.validate()?;
        let flit_bits = self.flit_bytes as u64 * 8;
        // period = flit_bits / rate = flit_bits * 1e9 / rate_kbps ps.
        let clock = ClockDomain::from_ratio(flit_bits * 1_000_000_000, self.rate_kbps().max(1)).ok_or_else(|| {
            Error::spec(
                "gbps_per_lane",
                format!(
                    "gives a flit time under 1 ps ({} lanes x {} Gb/s for a {} B flit); lower the rate or enlarge the flit",
                    self.lanes, self.gbps_per_lane, self.flit_bytes
                ),
            )
        })?;
        Ok(self.resolve_on(clock))
    }

    /// Raw rate in kb/s (lanes x per-lane rate).
    pub fn rate_kbps(&self) -> u64 {
        (self.lanes as f64 * self.gbps_per_lane * 1.0e6).round() as u64
    }

    /// The parameters with times counted in cycles of `clock` (another
    /// link's, in a fabric that mixes link kinds: this link then sends a
    /// flit only every `clock`'s rate / its rate cycles). Validated spec.
    pub fn resolve_on(&self, clock: ClockDomain) -> LinkParams {
        let rate_kbps = self.rate_kbps();
        let latency_cycles = clock.cycles_ceil(ns_to_ps(self.latency_ns));
        let credit_return_cycles = clock.cycles_ceil(ns_to_ps(self.credit_return_ns)).max(1);
        let reliability = reliability::resolve(self, clock, latency_cycles, credit_return_cycles);
        LinkParams {
            clock,
            rate_kbps,
            flit_bytes: self.flit_bytes,
            flit_payload_bytes: self.flit_bytes - self.flit_overhead_bytes,
            packet_overhead_bytes: self.packet_overhead_bytes,
            mtu_bytes: self.mtu_bytes,
            packing: self.packing,
            vcs: self.vcs,
            credits_per_vc: self.credits_per_vc,
            latency_cycles,
            credit_return_cycles,
            credit_coalesce_flits: self.credit_coalesce_flits,
            reliability,
        }
    }

    /// Settings that are legal but unsafe: the link runs them as written (so
    /// that fuzzing can show what they break) and these say why to worry.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = reliability::warnings(self);
        if self.credit_coalesce_flits > self.credits_per_vc {
            w.push(format!(
                "credit_coalesce_flits ({}) > credits_per_vc ({}): the receiver waits for more freed buffers than the sender can ever fill, so credits never return and the link deadlocks",
                self.credit_coalesce_flits, self.credits_per_vc
            ));
        }
        w
    }
}

/// Converts a validated, non-negative duration in ns to whole ps (nearest).
pub fn ns_to_ps(ns: f64) -> u64 {
    (ns * 1000.0).round() as u64
}

impl LinkParams {
    /// Flits of one packet carrying `payload` message bytes.
    #[inline]
    pub fn packet_flits(&self, payload: u64) -> u64 {
        (payload + self.packet_overhead_bytes as u64).div_ceil(self.flit_payload_bytes as u64)
    }

    /// Flits of a whole message of `bytes` (full MTU packets, then the rest).
    pub fn message_flits(&self, bytes: u64) -> u64 {
        if bytes == 0 {
            // A message without payload (a read request whose header is
            // the link's packet overhead) is one empty packet.
            return self.packet_flits(0).max(1);
        }
        let mtu = self.mtu_bytes as u64;
        let full = bytes / mtu;
        let rest = bytes % mtu;
        match self.packing {
            Packing::Padded => {
                full * self.packet_flits(mtu) + if rest > 0 { self.packet_flits(rest) } else { 0 }
            }
            Packing::Packed => {
                let packets = full + u64::from(rest > 0);
                (bytes + packets * self.packet_overhead_bytes as u64)
                    .div_ceil(self.flit_payload_bytes as u64)
            }
        }
    }

    /// Cycles from sending a flit with a credit to that credit being usable
    /// again at the sender, with an instantly draining receiver: 1 cycle of
    /// serialization, the propagation latency, the credit return.
    pub fn credit_round_trip_cycles(&self) -> u64 {
        1 + self.latency_cycles + self.credit_return_cycles
    }

    /// The share of the link's flit slots that carry new flits at its
    /// error rate (the flow model's capacity factor): go-back-N resends a
    /// round trip `W` of flits per detected error, `(1 - p) / (1 + (W - 1) p)`
    /// with `p` the chance a flit needs a replay; selective repeat resends
    /// the flit alone, `1 - p`; without retry nothing is resent (errors pass
    /// up marked corrupt), 1. Bursts count by their stationary share of
    /// flits (clustered errors cost go-back-N less than this says).
    pub fn retry_efficiency(&self) -> f64 {
        let r = &self.reliability;
        let normal = r.normal.map_or(0.0, |t| t.detected);
        let p = match r.burst {
            Some((enter, exit, inside)) => {
                let share = enter / (enter + exit);
                (1.0 - share) * normal + share * inside.detected
            }
            None => normal,
        };
        match r.retry {
            Retry::None => 1.0,
            Retry::SelectiveRepeat => 1.0 - p,
            Retry::GoBackN => {
                let w = self.credit_round_trip_cycles() as f64;
                (1.0 - p) / (1.0 + (w - 1.0) * p)
            }
        }
    }

    /// Raw rate in Gb/s (lanes x per-lane rate).
    pub fn raw_gbps(&self) -> f64 {
        self.rate_kbps as f64 / 1.0e6
    }

    /// Payload fraction of the wire for a stream of MTU-sized packets.
    pub fn goodput_fraction(&self) -> f64 {
        let mtu = self.mtu_bytes as f64;
        match self.packing {
            Packing::Padded => {
                mtu / (self.packet_flits(self.mtu_bytes as u64) * self.flit_bytes as u64) as f64
            }
            Packing::Packed => {
                mtu / (mtu + self.packet_overhead_bytes as f64) * self.flit_payload_bytes as f64
                    / self.flit_bytes as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn pcie_like() -> LinkSpec {
        let mut s = LinkSpec::with_defaults(16, 64.0, 256, 256, 16);
        s.flit_overhead_bytes = 20;
        s.packet_overhead_bytes = 16;
        s.latency_ns = 10.0;
        s.vcs = 2;
        s.credit_return_ns = 10.0;
        s
    }

    #[test]
    fn pcie_like_resolves_to_two_ns_flits() {
        let p = pcie_like().resolve().unwrap();
        // 2048 bits at 1024 Gb/s = 2 ns.
        assert_eq!(p.clock.ratio(), (2000, 1));
        assert_eq!(p.flit_payload_bytes, 236);
        assert_eq!(p.latency_cycles, 5);
        assert_eq!(p.credit_return_cycles, 5);
        assert_eq!(p.credit_round_trip_cycles(), 11);
        // 256 B payload + 16 B header = 272 B -> 2 flits of 236 B.
        assert_eq!(p.packet_flits(256), 2);
        assert_eq!(p.message_flits(4096), 32);
        assert_eq!(p.message_flits(100), 1);
        assert_eq!(p.message_flits(300), 2 + 1);
    }

    #[test]
    fn packed_packets_share_flits() {
        let mut s = pcie_like();
        s.packing = Packing::Packed;
        let p = s.resolve().unwrap();
        // 16 packets x (256 + 16) B = 4352 B over 236 B flits -> 19 flits.
        assert_eq!(p.message_flits(4096), 19);
        assert_eq!(p.message_flits(100), 1);
        assert!((p.goodput_fraction() - 256.0 / 272.0 * 236.0 / 256.0).abs() < 1e-12);
    }

    #[test]
    fn zero_credit_return_still_takes_a_cycle() {
        let mut s = pcie_like();
        s.credit_return_ns = 0.0;
        assert_eq!(s.resolve().unwrap().credit_return_cycles, 1);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut s = pcie_like();
        s.credits_per_vc = 0;
        let e = s.resolve().unwrap_err().to_string();
        assert!(e.starts_with("credits_per_vc: must be in 1..="), "{e}");
        assert!(e.ends_with("got 0"), "{e}");

        let mut s = pcie_like();
        s.flit_overhead_bytes = 256;
        assert!(s
            .resolve()
            .unwrap_err()
            .to_string()
            .starts_with("flit_overhead_bytes:"));

        let mut s = pcie_like();
        s.gbps_per_lane = f64::NAN;
        assert!(s
            .resolve()
            .unwrap_err()
            .to_string()
            .starts_with("gbps_per_lane:"));

        let mut s = pcie_like();
        s.latency_ns = -1.0;
        assert!(s
            .resolve()
            .unwrap_err()
            .to_string()
            .starts_with("latency_ns:"));
    }

    #[test]
    fn sub_ps_flit_time_is_rejected_not_panicking() {
        let mut s = pcie_like();
        s.flit_bytes = 1;
        s.flit_overhead_bytes = 0;
        s.lanes = MAX_LANES;
        s.gbps_per_lane = MAX_GBPS_PER_LANE;
        assert!(s
            .resolve()
            .unwrap_err()
            .to_string()
            .starts_with("gbps_per_lane:"));
    }
}
