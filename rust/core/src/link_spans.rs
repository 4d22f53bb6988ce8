//! When each message crossed each link direction (`RunOptions::link_spans`):
//! per `(message, link)` a span from its first flit leaving the link's
//! sender to the end of the cycle its last flit left in (at flow fidelity:
//! from the flow's start to the end of its transfer, on every link of its
//! path at once). What a timeline draws per link.
//!
//! ```text
//!  cycle engine: a flit of message m leaves link d on VC v in cycle c
//!    the slot (d, v)'s last record is m's   -> extend it to c
//!    else a head flit and room under `max`   -> a new record (m, d, c, c)
//!    else                                    -> counted as left out
//!  end of run: records sorted by (message, link), one span per pair
//! ```
//!
//! A VC of a link carries one packet at a time, so the slot's last record
//! is the packet on the wire; a message whose packets interleave with
//! others' on a link takes a few records, merged at the end. Recording is
//! off unless asked for (the hot path pays one predictable branch per flit),
//! bounded by `max` records, and allocates only when a record is new.

use crate::link::flit::Flit;
use crate::time::{Cycle, Ps};

const NONE: u32 = u32::MAX;

/// What a run returns: one row per `(message, link direction)` crossing,
/// sorted by message then link; link directions in `res.links` order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSpans {
    pub msg: Vec<u32>,
    pub link: Vec<u32>,
    pub start_ps: Vec<Ps>,
    pub end_ps: Vec<Ps>,
    /// Crossings not recorded because `max` records were held (a packet
    /// each at cycle fidelity, a message-link pair at flow fidelity).
    pub left_out: u64,
}

impl LinkSpans {
    /// Spans from unsorted records `(msg, link, start, end)` (times in any
    /// unit, converted by `to_ps`): one per `(msg, link)`, from its earliest
    /// start to its latest end.
    pub fn from_records(
        mut records: Vec<(u32, u32, u64, u64)>,
        left_out: u64,
        to_ps: impl Fn(u64) -> Ps,
    ) -> Self {
        records.sort_unstable();
        let mut out = LinkSpans {
            left_out,
            ..Default::default()
        };
        for (msg, link, start, end) in records {
            let n = out.msg.len();
            if n > 0 && out.msg[n - 1] == msg && out.link[n - 1] == link {
                // sorted: this start is not earlier
                let end_ps = to_ps(end);
                out.end_ps[n - 1] = out.end_ps[n - 1].max(end_ps);
                continue;
            }
            out.msg.push(msg);
            out.link.push(link);
            out.start_ps.push(to_ps(start));
            out.end_ps.push(to_ps(end));
        }
        out
    }
}

/// The cycle engine's record of flits leaving link directions.
#[derive(Clone, Debug)]
pub struct LinkSpanLog {
    vcs: usize,
    max: usize,
    /// Per (link direction, VC): the record of the packet it sent last.
    last: Vec<u32>,
    /// `(msg, link, first cycle, last cycle)`.
    records: Vec<(u32, u32, Cycle, Cycle)>,
    left_out: u64,
}

impl LinkSpanLog {
    pub fn new(links: usize, vcs: usize, max: usize) -> Self {
        Self {
            vcs,
            max,
            last: vec![NONE; links * vcs],
            records: Vec::new(),
            left_out: 0,
        }
    }

    /// `flit` left link direction `link` in cycle `c` (its first
    /// transmission: a replay is the same crossing).
    #[inline]
    pub fn sent(&mut self, link: u32, flit: &Flit, c: Cycle) {
        let slot = link as usize * self.vcs + flit.vc as usize;
        let i = self.last[slot];
        if i != NONE && self.records[i as usize].0 == flit.msg.0 {
            self.records[i as usize].3 = c;
        } else if flit.is(Flit::HEAD) {
            if self.records.len() < self.max {
                self.last[slot] = self.records.len() as u32;
                self.records.push((flit.msg.0, link, c, c));
            } else {
                self.last[slot] = NONE;
                self.left_out += 1;
            }
        }
    }

    /// The spans, times in ps by `start_ps` (a cycle's start): a span ends
    /// where the cycle its last flit left in ends.
    pub fn finish(&self, start_ps: impl Fn(Cycle) -> Ps) -> LinkSpans {
        let records = self
            .records
            .iter()
            .map(|&(m, l, a, b)| (m, l, a, b + 1))
            .collect();
        LinkSpans::from_records(records, self.left_out, start_ps)
    }
}

/// The flow engine's record: per flow slot its start, and the spans of the
/// flows that ended.
#[derive(Clone, Debug, Default)]
pub struct FlowSpanLog {
    max: usize,
    /// Per flow slot: when it started.
    pub started: Vec<Ps>,
    records: Vec<(u32, u32, Ps, Ps)>,
    left_out: u64,
}

impl FlowSpanLog {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            ..Default::default()
        }
    }

    /// The flow of message `msg` (tag), started at `start`, carried over
    /// `path` until `end`.
    pub fn ended(&mut self, msg: u32, path: &[u32], start: Ps, end: Ps) {
        for &l in path {
            if self.records.len() < self.max {
                self.records.push((msg, l, start, end));
            } else {
                self.left_out += 1;
            }
        }
    }

    pub fn finish(&self) -> LinkSpans {
        LinkSpans::from_records(self.records.clone(), self.left_out, |t| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MsgId;

    fn flit(msg: u32, vc: u8, flags: u8) -> Flit {
        Flit {
            msg: MsgId(msg),
            vc,
            flags,
            ..Default::default()
        }
    }

    #[test]
    fn a_packets_flits_extend_its_record_and_interleaved_packets_merge() {
        let mut log = LinkSpanLog::new(2, 2, 10);
        // message 7: a two-flit packet on link 1 VC 0, cycles 3-4
        log.sent(1, &flit(7, 0, Flit::HEAD), 3);
        log.sent(1, &flit(7, 0, Flit::TAIL), 4);
        // message 8 on VC 1 of the same link, between 7's packets
        log.sent(1, &flit(8, 1, Flit::HEAD | Flit::TAIL), 5);
        // message 7's second packet on VC 1, after 8's: a second record
        log.sent(1, &flit(7, 1, Flit::HEAD | Flit::TAIL | Flit::MSG_TAIL), 9);
        // message 7 on link 0
        log.sent(0, &flit(7, 0, Flit::HEAD), 1);
        log.sent(0, &flit(7, 0, Flit::TAIL), 2);
        let s = log.finish(|c| c * 100);
        assert_eq!(s.msg, vec![7, 7, 8]);
        assert_eq!(s.link, vec![0, 1, 1]);
        assert_eq!(s.start_ps, vec![100, 300, 500]);
        // ends at the end of the last flit's cycle; 7's two records merged
        assert_eq!(s.end_ps, vec![300, 1000, 600]);
        assert_eq!(s.left_out, 0);
    }

    #[test]
    fn records_past_the_maximum_are_counted_not_kept() {
        let mut log = LinkSpanLog::new(1, 1, 1);
        log.sent(0, &flit(1, 0, Flit::HEAD | Flit::TAIL), 0);
        log.sent(0, &flit(2, 0, Flit::HEAD), 1);
        log.sent(0, &flit(2, 0, Flit::TAIL), 2); // (its head was left out)
        log.sent(0, &flit(3, 0, Flit::HEAD | Flit::TAIL), 3);
        let s = log.finish(|c| c);
        assert_eq!((s.msg.clone(), s.left_out), (vec![1], 2));
        let mut f = FlowSpanLog::new(3);
        f.ended(4, &[2, 0], 10, 50);
        f.ended(5, &[0, 1], 20, 40);
        let s = f.finish();
        assert_eq!(
            (s.msg, s.link, s.left_out),
            (vec![4, 4, 5], vec![0, 2, 0], 1)
        );
        assert_eq!((s.start_ps, s.end_ps), (vec![10, 10, 20], vec![50, 50, 40]));
    }
}
