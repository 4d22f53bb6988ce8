//! Credits on their way back from a router's input to the router output
//! upstream over a plain link (no retry, no fault plan, one credit per
//! flit): a calendar of `(output, VC)` by the cycle they arrive.
//!
//! On such a link the return path is a fixed delay and nothing else, so it
//! needs neither the link direction's return wire nor a visit of that
//! direction when the credit lands: the cycle loop hands the calendar's due
//! credits to the outputs first thing in the cycle (where the direction's
//! input half would have, before any router steps). On a mesh that was one
//! link-direction visit per flit-hop.

use crate::time::Cycle;

#[derive(Clone, Debug, Default)]
pub struct CreditReturns {
    /// Per arrival cycle modulo their number (a power of two above every
    /// such link's return time): `(arrival, output, VC)`.
    buckets: Vec<Vec<(Cycle, u32, u32)>>,
    in_flight: usize,
}

impl CreditReturns {
    /// A calendar for return times of at most `longest` cycles.
    pub fn new(longest: u64) -> Self {
        let n = (longest as usize + 1).next_power_of_two();
        Self {
            buckets: vec![Vec::new(); n],
            in_flight: 0,
        }
    }

    #[inline]
    fn bucket(&self, c: Cycle) -> usize {
        c as usize & (self.buckets.len() - 1)
    }

    /// A credit of VC `vc` for output `o`, arriving at cycle `at`.
    #[inline]
    pub fn send(&mut self, o: u32, vc: u32, at: Cycle) {
        let b = self.bucket(at);
        self.buckets[b].push((at, o, vc));
        self.in_flight += 1;
    }

    /// Calls `give(output, vc)` for each credit arriving at cycle `c`;
    /// returns how many arrived. Every cycle with arrivals must be visited
    /// (see [`CreditReturns::next_arrival`]).
    #[inline]
    pub fn arrive(&mut self, c: Cycle, mut give: impl FnMut(u32, u32)) -> usize {
        if self.in_flight == 0 {
            return 0;
        }
        let b = self.bucket(c);
        let bucket = &mut self.buckets[b];
        let n = bucket.len();
        for &(at, o, vc) in bucket.iter() {
            debug_assert_eq!(at, c, "a credit's arrival cycle was skipped");
            give(o, vc);
        }
        bucket.clear();
        self.in_flight -= n;
        n
    }

    /// The earliest arrival still to come.
    pub fn next_arrival(&self) -> Option<Cycle> {
        self.buckets.iter().flatten().map(|&(at, ..)| at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::CreditReturns;

    #[test]
    fn credits_arrive_at_their_cycle_once() {
        let mut r = CreditReturns::new(3);
        r.send(5, 1, 10);
        r.send(7, 0, 12);
        r.send(5, 1, 13);
        assert_eq!(r.next_arrival(), Some(10));
        let mut got = Vec::new();
        for c in 10..=13 {
            r.arrive(c, |o, v| got.push((c, o, v)));
        }
        assert_eq!(got, vec![(10, 5, 1), (12, 7, 0), (13, 5, 1)]);
        assert_eq!(r.next_arrival(), None);
        assert_eq!(r.arrive(14, |_, _| panic!("nothing left")), 0);
    }
}
