//! Reliability fields of `LinkSpec`: bit errors, FEC, CRC and link-level retry.
//!
//! Resolution turns the bit-error rate into per-flit outcome probabilities
//! (clean / corrected by FEC / detected by CRC / undetected) and the retry
//! knobs into cycles. Unsafe but meaningful settings (a sequence space too
//! small for the replay window, a replay timeout shorter than an ACK round
//! trip) are legal and produce warnings.

use super::link::LinkSpec;
use super::{ensure, ensure_float};
use crate::error::Result;
use crate::spec::link::ns_to_ps;
use crate::time::ClockDomain;
use serde::{Deserialize, Serialize};

/// Link-level retry scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Sequence numbers, replay buffer, ACK/NAK, replay from the first
    /// unacknowledged flit on a NAK or a timeout.
    #[default]
    GoBackN,
    /// Sequence numbers, replay buffer, ACK/NAK; the receiver keeps good
    /// flits that arrive after a gap, and only missing flits are resent.
    SelectiveRepeat,
    /// No link-level retry: corrupted flits are delivered marked corrupt.
    None,
}

/// Gilbert-Elliott bursts: per flit, the channel enters a burst with
/// probability `start_prob` and stays in it for `mean_flits` flits on
/// average (geometric), with bit-error rate `ber` inside the burst.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    pub start_prob: f64,
    pub mean_flits: f64,
    pub ber: f64,
}

/// Per-flit outcome probabilities, as cumulative thresholds for one uniform
/// draw `u`: `u < detected` -> detected, `< undetected` -> undetected,
/// `< corrected` -> corrected, else clean.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OutcomeThresholds {
    pub detected: f64,
    pub undetected: f64,
    pub corrected: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReliabilityParams {
    /// Outcomes outside bursts; `None` when the BER is 0 (no draw at all).
    pub normal: Option<OutcomeThresholds>,
    /// `(enter, exit, outcomes inside)` per flit, when bursts are on.
    pub burst: Option<(f64, f64, OutcomeThresholds)>,
    pub retry: Retry,
    pub seq_bits: u32,
    /// Sequence numbers on the wire are modulo this (`2^seq_bits`).
    pub seq_modulus: u64,
    pub replay_buffer_flits: u64,
    pub ack_coalesce_flits: u32,
    pub ack_timer_cycles: u64,
    pub replay_timeout_cycles: u64,
    /// Cycles from sending a flit to its ACK arriving back, error-free and
    /// at full rate: 1 + latency + ACK coalescing delay + return.
    pub ack_round_trip_cycles: u64,
}

impl ReliabilityParams {
    /// Flits may meet errors (a channel has something to draw).
    pub fn noisy(&self) -> bool {
        self.normal.is_some() || self.burst.is_some()
    }
}

/// The sequence-number width when the spec leaves it open (as PCIe).
pub const DEFAULT_SEQ_BITS: u32 = 12;

pub fn validate(s: &LinkSpec) -> Result<()> {
    ensure_float(s.ber, "ber", 0.0, false)?;
    ensure(s.ber <= 0.5, "ber", "<= 0.5", s.ber)?;
    if let Some(b) = &s.burst {
        ensure_float(b.start_prob, "burst.start_prob", 0.0, false)?;
        ensure(
            b.start_prob <= 1.0,
            "burst.start_prob",
            "<= 1",
            b.start_prob,
        )?;
        ensure_float(b.mean_flits, "burst.mean_flits", 1.0, false)?;
        ensure_float(b.ber, "burst.ber", 0.0, false)?;
        ensure(b.ber <= 0.5, "burst.ber", "<= 0.5", b.ber)?;
    }
    ensure(
        (1..=64).contains(&s.fec_symbol_bits),
        "fec_symbol_bits",
        "in 1..=64",
        s.fec_symbol_bits,
    )?;
    let symbols = (s.flit_bytes as u64 * 8).div_ceil(s.fec_symbol_bits as u64);
    ensure(
        (s.fec_correctable_symbols as u64) <= symbols,
        "fec_correctable_symbols",
        &format!("at most the {symbols} symbols of a flit"),
        s.fec_correctable_symbols,
    )?;
    ensure(
        (1..=64).contains(&s.crc_bits),
        "crc_bits",
        "in 1..=64",
        s.crc_bits,
    )?;
    if let Some(b) = s.seq_bits {
        ensure((1..=32).contains(&b), "seq_bits", "in 1..=32", b)?;
    }
    if let Some(n) = s.replay_buffer_flits {
        ensure(
            (1..=1 << 24).contains(&n),
            "replay_buffer_flits",
            "in 1..=16777216",
            n,
        )?;
    }
    ensure(
        (1..=1 << 20).contains(&s.ack_coalesce_flits),
        "ack_coalesce_flits",
        "in 1..=1048576",
        s.ack_coalesce_flits,
    )?;
    if let Some(t) = s.ack_timer_ns {
        ensure_float(t, "ack_timer_ns", 0.0, false)?;
        ensure(t <= 1.0e9, "ack_timer_ns", "<= 1e9", t)?;
    }
    if let Some(t) = s.replay_timeout_ns {
        ensure_float(t, "replay_timeout_ns", 0.0, true)?;
        ensure(t <= 1.0e9, "replay_timeout_ns", "<= 1e9", t)?;
    }
    Ok(())
}

/// Probability split of one flit's fate for a bit-error rate `ber`.
///
/// The flit has `n` symbols of `sym_bits`; each is wrong with probability
/// `p = 1 - (1 - ber)^sym_bits`, independently, so the number of wrong
/// symbols `k` is Binomial(n, p). FEC corrects `k <= t`; otherwise the CRC
/// misses the error with probability `2^-crc_bits`.
pub fn outcome_probabilities(
    ber: f64,
    flit_bits: u64,
    sym_bits: u32,
    t: u32,
    crc_bits: u32,
) -> OutcomeThresholds {
    if ber <= 0.0 {
        return OutcomeThresholds::default();
    }
    let n = flit_bits.div_ceil(sym_bits as u64);
    let t = (t as u64).min(n);
    let p = -(sym_bits as f64 * (-ber).ln_1p()).exp_m1(); // 1 - (1-ber)^sym_bits, accurately
    let (corrected, tail) = if p >= 1.0 {
        // Every symbol wrong: correctable only if FEC covers the whole flit.
        (
            if t >= n { 1.0 } else { 0.0 },
            if t >= n { 0.0 } else { 1.0 },
        )
    } else {
        let (ln_p, ln_q) = (p.ln(), (-p).ln_1p());
        let ln_pk = |k: u64, ln_choose: f64| ln_choose + k as f64 * ln_p + (n - k) as f64 * ln_q;
        // P(k) for k <= t in log space (no underflow when errors are likely).
        let mut ln_choose = 0.0;
        let mut head = 0.0;
        let mut corrected = 0.0;
        for k in 0..=t {
            if k > 0 {
                ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
            }
            let pk = ln_pk(k, ln_choose).exp();
            head += pk;
            if k > 0 {
                corrected += pk;
            }
        }
        let tail = if head < 0.5 || t == n {
            (1.0 - head).max(0.0)
        } else {
            // Errors are rare: sum the tail directly so that tiny
            // probabilities keep their precision (1 - head would not).
            let k0 = t + 1;
            let mut term = ln_pk(k0, ln_choose + ((n - t) as f64).ln() - (k0 as f64).ln()).exp();
            let mut tail = 0.0;
            let mut k = k0;
            loop {
                tail += term;
                if k == n || term < tail * 1e-17 {
                    break tail;
                }
                term *= (n - k) as f64 / (k + 1) as f64 * (p / (1.0 - p));
                k += 1;
            }
        };
        (corrected, tail)
    };
    let miss = 2f64.powi(-(crc_bits as i32));
    let detected = tail * (1.0 - miss);
    let undetected = tail * miss;
    OutcomeThresholds {
        detected,
        undetected: detected + undetected,
        corrected: detected + undetected + corrected,
    }
}

pub fn resolve(
    s: &LinkSpec,
    clock: ClockDomain,
    latency_cycles: u64,
    return_cycles: u64,
) -> ReliabilityParams {
    let flit_bits = s.flit_bytes as u64 * 8;
    let split = |ber: f64| {
        outcome_probabilities(
            ber,
            flit_bits,
            s.fec_symbol_bits,
            s.fec_correctable_symbols,
            s.crc_bits,
        )
    };
    let normal = (s.ber > 0.0).then(|| split(s.ber));
    let burst = s
        .burst
        .as_ref()
        .filter(|b| b.start_prob > 0.0)
        .map(|b| (b.start_prob, 1.0 / b.mean_flits, split(b.ber)));
    let ack_timer_cycles = s.ack_timer_ns.map_or(s.ack_coalesce_flits as u64, |t| {
        clock.cycles_ceil(ns_to_ps(t))
    });
    let ack_delay = ack_timer_cycles.min(s.ack_coalesce_flits as u64 - 1);
    let ack_round_trip_cycles = 1 + latency_cycles + ack_delay + return_cycles;
    let replay_buffer_flits = s
        .replay_buffer_flits
        .map_or(ack_round_trip_cycles + 1, u64::from);
    let replay_timeout_cycles = s.replay_timeout_ns.map_or(3 * ack_round_trip_cycles, |t| {
        clock.cycles_ceil(ns_to_ps(t)).max(1)
    });
    // Enough bits that the window never aliases: go-back-N needs
    // 2^bits > window, selective repeat 2^bits >= 2 x window (a flit ahead of
    // the gap must not look like a duplicate from behind).
    let span = match s.retry {
        Retry::SelectiveRepeat => 2 * replay_buffer_flits,
        _ => replay_buffer_flits + 1,
    };
    let needed = 64 - (span - 1).leading_zeros();
    let seq_bits = s.seq_bits.unwrap_or(needed.clamp(DEFAULT_SEQ_BITS, 32));
    ReliabilityParams {
        normal,
        burst,
        retry: s.retry,
        seq_bits,
        seq_modulus: 1u64 << seq_bits,
        replay_buffer_flits,
        ack_coalesce_flits: s.ack_coalesce_flits,
        ack_timer_cycles,
        replay_timeout_cycles,
        ack_round_trip_cycles,
    }
}

pub fn warnings(s: &LinkSpec) -> Vec<String> {
    let mut w = Vec::new();
    if s.retry == Retry::None {
        return w;
    }
    let Ok(p) = s.resolve() else { return w };
    let r = &p.reliability;
    if s.retry == Retry::SelectiveRepeat && 2 * r.replay_buffer_flits > r.seq_modulus {
        w.push(format!(
            "seq_bits = {} gives {} sequence numbers, but selective repeat with a {}-flit window needs twice the window: a flit held ahead of a gap can be taken for a duplicate, or a duplicate for a new flit",
            r.seq_bits, r.seq_modulus, r.replay_buffer_flits
        ));
    } else if r.replay_buffer_flits >= r.seq_modulus {
        w.push(format!(
            "seq_bits = {} gives {} sequence numbers, but up to {} flits can be unacknowledged (replay_buffer_flits): after a replay an old flit can alias a new one, and a duplicate or a loss gets through (go-back-N needs replay_buffer_flits < 2^seq_bits)",
            r.seq_bits, r.seq_modulus, r.replay_buffer_flits
        ));
    }
    if r.replay_timeout_cycles < r.ack_round_trip_cycles {
        w.push(format!(
            "replay_timeout_ns is {} cycles, shorter than the {}-cycle ACK round trip: the sender replays flits that were received fine",
            r.replay_timeout_cycles, r.ack_round_trip_cycles
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_errors_without_ber() {
        let t = outcome_probabilities(0.0, 2048, 8, 0, 32);
        assert_eq!(t, OutcomeThresholds::default());
    }

    #[test]
    fn without_fec_a_flit_fails_with_one_minus_q_to_the_bits() {
        let ber = 1e-6;
        let t = outcome_probabilities(ber, 2048, 8, 0, 64);
        let expected = 1.0 - (1.0 - ber).powi(2048);
        assert!(
            (t.corrected - expected).abs() / expected < 1e-9,
            "{} vs {expected}",
            t.corrected
        );
        assert!((t.detected - expected).abs() / expected < 1e-9);
    }

    #[test]
    fn fec_corrects_single_symbol_errors() {
        // 256 symbols, p = 1 - (1 - 1e-6)^8 ~ 8e-6: one error in ~0.2% of flits,
        // two in ~2e-6 of them.
        let t = outcome_probabilities(1e-6, 2048, 8, 1, 32);
        let p = 1.0 - (1.0f64 - 1e-6).powi(8);
        let n = 256.0;
        let one = n * p * (1.0 - p).powf(n - 1.0);
        let two = n * (n - 1.0) / 2.0 * p * p * (1.0 - p).powf(n - 2.0);
        assert!((t.corrected - t.undetected - one).abs() / one < 1e-9);
        assert!(
            (t.undetected - two).abs() / two < 1e-3,
            "{} vs {two}",
            t.undetected
        );
        assert!(t.undetected - t.detected < 1e-12); // a 32-bit CRC misses ~2^-32 of them
    }

    #[test]
    fn huge_ber_makes_every_flit_uncorrectable() {
        let t = outcome_probabilities(0.5, 64, 8, 1, 8);
        assert!(t.undetected > 0.99);
        assert!((t.undetected - t.detected - t.undetected / 256.0).abs() < 1e-3);
    }
}
