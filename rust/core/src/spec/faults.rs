//! Scripted faults: a plan of things that go wrong at given times, on top of
//! (or instead of) random bit errors. Part of the run options.

use super::{ensure, ensure_float};
use crate::error::Result;
use crate::spec::link::ns_to_ps;
use crate::time::{ClockDomain, Cycle};
use serde::{Deserialize, Serialize};

/// One scripted fault on link direction `link` (the row of `res.links`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The `flit`-th transmission (0-based, replays included) arrives with
    /// errors the CRC detects.
    CorruptFlit { link: u32, flit: u64 },
    /// The first ACK or NAK sent back to this direction's sender at or after
    /// `at_ns` is lost.
    DropAck { link: u32, at_ns: f64 },
    /// The first credit return to this direction's sender at or after
    /// `at_ns` is lost (its credits never come back).
    DropCredit { link: u32, at_ns: f64 },
    /// Flits sent from `at_ns` for `duration_ns` vanish.
    LinkDown {
        link: u32,
        at_ns: f64,
        duration_ns: f64,
    },
    /// From `at_ns` for `duration_ns` the link carries `rate` of its
    /// capacity (a degraded link: lanes down, a lower speed). Flow fidelity
    /// only: the cycle engine's links run at their spec's rate.
    LinkSlow {
        link: u32,
        at_ns: f64,
        duration_ns: f64,
        rate: f64,
    },
    /// The link is down for the whole run, and known to be: traffic routes
    /// around it (an endpoint leaves on another port, a multipath route
    /// takes another path), as a library does once a link has failed.
    /// Flow fidelity only.
    LinkFailed { link: u32 },
    /// From `at_ns` for `duration_ns` the link's bit-error rate is `ber`
    /// (its kind's spec has its own): a marginal link, replaying more. Flow
    /// fidelity only, as a capacity: the link's retry efficiency at `ber`
    /// over its efficiency at its spec's rate.
    LinkBer {
        link: u32,
        at_ns: f64,
        duration_ns: f64,
        ber: f64,
    },
}

impl Fault {
    pub fn link(&self) -> u32 {
        match self {
            Fault::CorruptFlit { link, .. }
            | Fault::DropAck { link, .. }
            | Fault::DropCredit { link, .. }
            | Fault::LinkDown { link, .. }
            | Fault::LinkSlow { link, .. }
            | Fault::LinkBer { link, .. }
            | Fault::LinkFailed { link } => *link,
        }
    }

    /// An error unless the cycle engine models this fault (`LinkSlow` and
    /// `LinkFailed` are flow-only), naming it as `options.faults[i]`.
    pub fn require_cycle_model(&self, i: usize) -> Result<()> {
        let why = match self {
            Fault::LinkSlow { .. } => "link_slow is modelled at fidelity \"flow\" only (a cycle-level link runs at its spec's rate: give the fabric a slower link spec instead)",
            Fault::LinkFailed { .. } => "link_failed is modelled at fidelity \"flow\" only (the cycle engine's routes are static: a link_down window holds the traffic that crosses it)",
            Fault::LinkBer { .. } => "link_ber is modelled at fidelity \"flow\" only, as a capacity (a cycle-level link draws its errors from its spec's ber: give the fabric a lossier link spec instead)",
            _ => return Ok(()),
        };
        Err(crate::error::Error::spec(
            format!("options.faults[{i}]"),
            why,
        ))
    }

    pub fn validate(&self, i: usize, links: usize) -> Result<()> {
        let path = |f: &str| format!("options.faults[{i}].{f}");
        ensure(
            (self.link() as usize) < links,
            &path("link"),
            &format!("a link direction in 0..{links}"),
            self.link(),
        )?;
        // a window: from at_ns for duration_ns
        let window = |at_ns: f64, duration_ns: f64| -> Result<()> {
            ensure_float(at_ns, &path("at_ns"), 0.0, false)?;
            ensure_float(duration_ns, &path("duration_ns"), 0.0, false)
        };
        match *self {
            Fault::CorruptFlit { .. } | Fault::LinkFailed { .. } => Ok(()),
            Fault::DropAck { at_ns, .. } | Fault::DropCredit { at_ns, .. } => {
                ensure_float(at_ns, &path("at_ns"), 0.0, false)
            }
            Fault::LinkDown {
                at_ns, duration_ns, ..
            } => window(at_ns, duration_ns),
            Fault::LinkSlow {
                at_ns,
                duration_ns,
                rate,
                ..
            } => {
                window(at_ns, duration_ns)?;
                ensure(
                    rate.is_finite() && rate > 0.0 && rate <= 1.0,
                    &path("rate"),
                    "a fraction of the link's capacity in (0, 1]",
                    rate,
                )
            }
            Fault::LinkBer {
                at_ns,
                duration_ns,
                ber,
                ..
            } => {
                window(at_ns, duration_ns)?;
                ensure(
                    ber.is_finite() && (0.0..0.5).contains(&ber),
                    &path("ber"),
                    "a bit-error rate in [0, 0.5)",
                    ber,
                )
            }
        }
    }
}

/// The faults of one link direction, in the engine's cycles, each list in
/// the order it will fire.
#[derive(Clone, Debug, Default)]
pub struct LinkFaults {
    /// Transmission indices to corrupt, ascending.
    pub corrupt: Vec<u64>,
    /// Cycles from which the next ACK/NAK is dropped, ascending.
    pub drop_ack: Vec<Cycle>,
    /// Cycles from which the next credit return is dropped, ascending.
    pub drop_credit: Vec<Cycle>,
    /// `[from, to)` cycle windows during which sent flits vanish.
    pub down: Vec<(Cycle, Cycle)>,
}

impl LinkFaults {
    /// The faults of link direction `link` from a validated plan.
    pub fn for_link(plan: &[Fault], link: u32, clock: ClockDomain) -> Self {
        let at = |ns: f64| clock.cycle_at_or_after(ns_to_ps(ns));
        let mut f = LinkFaults::default();
        for fault in plan.iter().filter(|x| x.link() == link) {
            match *fault {
                Fault::CorruptFlit { flit, .. } => f.corrupt.push(flit),
                Fault::DropAck { at_ns, .. } => f.drop_ack.push(at(at_ns)),
                Fault::DropCredit { at_ns, .. } => f.drop_credit.push(at(at_ns)),
                Fault::LinkDown {
                    at_ns, duration_ns, ..
                } => f.down.push((at(at_ns), at(at_ns + duration_ns))),
                // refused before a cycle-level network is built (require_cycle_model)
                Fault::LinkSlow { .. } | Fault::LinkFailed { .. } | Fault::LinkBer { .. } => {}
            }
        }
        f.corrupt.sort_unstable();
        f.corrupt.dedup();
        f.drop_ack.sort_unstable();
        f.drop_credit.sort_unstable();
        f.down.sort_unstable();
        f.corrupt.reverse(); // popped from the back, soonest first
        f.drop_ack.reverse();
        f.drop_credit.reverse();
        f
    }

    /// Adds one fault of a validated plan (for faults injected mid-run).
    pub fn add(&mut self, fault: &Fault, clock: ClockDomain) {
        let more = LinkFaults::for_link(std::slice::from_ref(fault), fault.link(), clock);
        let merge = |a: &mut Vec<u64>, b: Vec<u64>| {
            a.extend(b);
            a.sort_unstable_by(|x, y| y.cmp(x)); // soonest last
        };
        // Corrupting one transmission twice is one fault; but two drops at one
        // time are two drops (as in `for_link`).
        merge(&mut self.corrupt, more.corrupt);
        self.corrupt.dedup();
        merge(&mut self.drop_ack, more.drop_ack);
        merge(&mut self.drop_credit, more.drop_credit);
        self.down.extend(more.down);
        self.down.sort_unstable();
    }

    pub fn is_empty(&self) -> bool {
        self.corrupt.is_empty()
            && self.drop_ack.is_empty()
            && self.drop_credit.is_empty()
            && self.down.is_empty()
    }

    /// Whether transmission number `n` is to be corrupted (consumes it).
    #[inline]
    pub fn corrupts(&mut self, n: u64) -> bool {
        while self.corrupt.last().is_some_and(|&k| k < n) {
            self.corrupt.pop();
        }
        if self.corrupt.last() == Some(&n) {
            self.corrupt.pop();
            true
        } else {
            false
        }
    }

    /// Whether a flit sent at cycle `c` vanishes.
    #[inline]
    pub fn is_down(&self, c: Cycle) -> bool {
        self.down.iter().any(|&(a, b)| a <= c && c < b)
    }

    /// Whether an ACK/NAK sent at `c` is dropped (consumes the fault).
    #[inline]
    pub fn drops_ack(&mut self, c: Cycle) -> bool {
        pop_due(&mut self.drop_ack, c)
    }

    /// Whether a credit return sent at `c` is dropped (consumes the fault).
    #[inline]
    pub fn drops_credit(&mut self, c: Cycle) -> bool {
        pop_due(&mut self.drop_credit, c)
    }
}

fn pop_due(list: &mut Vec<Cycle>, c: Cycle) -> bool {
    if list.last().is_some_and(|&at| at <= c) {
        list.pop();
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_split_per_link_and_fire_once_in_order() {
        let clk = ClockDomain::from_period_ps(1000).unwrap();
        let plan = vec![
            Fault::CorruptFlit { link: 0, flit: 7 },
            Fault::CorruptFlit { link: 0, flit: 3 },
            Fault::CorruptFlit { link: 1, flit: 3 },
            Fault::DropAck {
                link: 0,
                at_ns: 5.0,
            },
            Fault::LinkDown {
                link: 0,
                at_ns: 10.0,
                duration_ns: 2.0,
            },
        ];
        let mut f = LinkFaults::for_link(&plan, 0, clk);
        assert!((0..10).filter(|&n| f.corrupts(n)).eq([3, 7]));
        assert!(!f.drops_ack(4) && f.drops_ack(6) && !f.drops_ack(7));
        assert!(!f.is_down(9) && f.is_down(10) && f.is_down(11) && !f.is_down(12));
        assert!(plan[0].validate(0, 2).is_ok());
        // Added mid-run, two drops at the same time drop two ACKs, as in a plan.
        let mut g = LinkFaults::default();
        g.add(
            &Fault::DropAck {
                link: 0,
                at_ns: 5.0,
            },
            clk,
        );
        g.add(
            &Fault::DropAck {
                link: 0,
                at_ns: 5.0,
            },
            clk,
        );
        assert!(g.drops_ack(5) && g.drops_ack(6) && !g.drops_ack(7));
        let e = Fault::DropCredit {
            link: 2,
            at_ns: 0.0,
        }
        .validate(4, 2)
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("options.faults[4].link: must be a link direction in 0..2"),
            "{e}"
        );
    }
}
