//! Every router port's flow-control state in one dense store: its input
//! buffers and its output credits.
//!
//! A router reads all its ports' VC state every cycle; kept inside the link
//! directions (large structs, per-VC queues and counters each in its own
//! allocation) that took several dependent cache misses per port on large
//! meshes. Here port `p` of router `r` is `first[r] + p` (its input and its
//! output share the number), so a router's ports sit next to each other,
//! every input VC is a ring in one flat array of flits, and every output
//! VC's credits a counter in one flat array.

use super::calendar::Calendar;
use super::occupancy::{record, Occupancy};
use crate::dense::{at, at_mut};
use crate::link::Flit;
use crate::stats::Histogram;
use crate::time::Cycle;

/// Not a router port (a link direction's endpoint end).
pub const NO_PORT: u32 = u32::MAX;

/// One input port: its non-empty VCs, flits held, and where its rings are.
#[derive(Clone, Copy, Debug, Default)]
struct Port {
    /// Bit `v` set iff VC `v` holds a flit.
    nonempty: u64,
    occupancy: u32,
    /// The most flits held, and the cycle the occupancy last changed (its
    /// histogram is apart: written only when a non-empty stretch ends).
    max_occupancy: u32,
    since: Cycle,
    /// Flits per VC (the arriving link's credits per VC).
    capacity: u32,
    /// Index of VC 0's ring in `flits`; VC `v`'s is `v * capacity` further.
    base: usize,
    /// Where the credits this input's flits free go through the calendar
    /// (a plain link: see [`RouterPorts::set_upstream`]).
    upstream: Leg,
    /// The router it belongs to and its port number there (see `held`).
    router: u32,
    port: u32,
}

impl Port {
    /// Index in `flits` of the `k`th slot (`k < capacity`) of VC `vc`'s ring.
    #[inline]
    fn slot(&self, vc: usize, k: u32) -> usize {
        self.base + vc * self.capacity as usize + k as usize
    }
}

/// One way of a plain link carried by the calendars: the port its items
/// reach and after how many cycles; `to == NO_PORT` when the link
/// direction carries them instead.
#[derive(Clone, Copy, Debug)]
struct Leg {
    to: u32,
    delay: u32,
}

impl Leg {
    const OFF: Leg = Leg {
        to: NO_PORT,
        delay: 0,
    };

    /// Where and when an item sent in cycle `c` arrives, if the calendar
    /// carries it.
    #[inline]
    fn arrival(self, c: Cycle) -> Option<(u32, Cycle)> {
        (self.to != NO_PORT).then(|| (self.to, c + self.delay as Cycle))
    }
}

impl Default for Leg {
    fn default() -> Self {
        Leg::OFF
    }
}

/// One VC's ring: index of its oldest flit and how many it holds.
#[derive(Clone, Copy, Debug, Default)]
struct Ring {
    head: u32,
    len: u32,
}

/// One output VC: its credits (free buffers downstream), and the flits sent
/// and credits coming back through the calendars (side by side: all change
/// per flit).
#[derive(Clone, Copy, Debug, Default)]
struct OutputVc {
    credits: u32,
    returning: u32,
    on_wire: u32,
}

/// An output port's link when its flits go through the calendar (a plain
/// link to another router: see [`RouterPorts::set_downstream`]): the input
/// it feeds, and, meanwhile, the link direction's counters of flits and
/// payload sent.
#[derive(Clone, Copy, Debug)]
struct Downstream {
    leg: Leg,
    flits: u64,
    payload_bytes: u64,
}

/// A flit arrived for a VC whose buffer was already full: the sender sent
/// without a credit; or (`capacity` 0) for a VC the port has no buffer for.
/// Always an engine bug or a broken credit protocol.
#[derive(Debug)]
pub struct Overflow {
    pub vc: u8,
    pub capacity: u32,
}

/// What went wrong when receiver `at` got a flit on VC `vc` of a buffer of
/// `capacity` flits (0: no buffer for that VC).
pub fn overflow_message(at: impl std::fmt::Display, vc: u8, capacity: u32) -> String {
    if capacity == 0 {
        format!("{at} received a flit on VC {vc}, which it has no buffer for")
    } else {
        format!("{at} received a flit on VC {vc} whose buffer already held {capacity} flits: sent without a credit")
    }
}

#[derive(Clone, Debug, Default)]
pub struct RouterPorts {
    vcs: usize,
    ports: Vec<Port>,
    /// Per (input, VC).
    rings: Vec<Ring>,
    flits: Vec<Flit>,
    /// Per (output, VC): the credits of the link direction leaving it.
    outputs: Vec<OutputVc>,
    /// Per output.
    downstream: Vec<Downstream>,
    /// Over plain links between routers: credits coming back to outputs,
    /// `(output, VC)`, and flits on their way to inputs, `(output, input,
    /// flit)`; and what arrives in a cycle (memory reused).
    returns: Calendar<(u32, u32)>,
    arrivals: Calendar<(u32, u32, Flit)>,
    due_credits: Vec<(Cycle, (u32, u32))>,
    due_flits: Vec<(Cycle, (u32, u32, Flit))>,
    /// Per router: its ports holding flits, as a mask (kept as flits come
    /// and go: a router's step reads one word, not every port).
    held: Vec<u128>,
    /// Per input: its buffers' occupancy histogram (updated as flits come
    /// and go, so the link direction feeding it is not touched for them).
    occupancy: Vec<Histogram>,
}

impl RouterPorts {
    /// Ports with `vcs` VCs each, the `i`th buffering `capacity[i]` flits
    /// per input VC and starting with `credits[i]` credits per output VC;
    /// flits take at most `longest[0]` cycles to the next router, credits
    /// `longest[1]` back.
    pub fn new(vcs: usize, capacity: &[u32], credits: &[u32], longest: [u64; 2]) -> Self {
        debug_assert_eq!(capacity.len(), credits.len());
        let mut base = 0;
        let ports = capacity
            .iter()
            .map(|&cap| {
                let p = Port {
                    nonempty: 0,
                    occupancy: 0,
                    max_occupancy: 0,
                    since: 0,
                    capacity: cap,
                    base,
                    upstream: Leg::OFF,
                    router: 0,
                    port: 0,
                };
                base += vcs * cap as usize;
                p
            })
            .collect::<Vec<_>>();
        Self {
            vcs,
            rings: vec![Ring::default(); ports.len() * vcs],
            ports,
            flits: vec![Flit::default(); base],
            outputs: credits
                .iter()
                .map(|&k| OutputVc {
                    credits: k,
                    returning: 0,
                    on_wire: 0,
                })
                .flat_map(|o| std::iter::repeat_n(o, vcs))
                .collect(),
            downstream: vec![
                Downstream {
                    leg: Leg::OFF,
                    flits: 0,
                    payload_bytes: 0,
                };
                credits.len()
            ],
            returns: Calendar::new(longest[1]),
            arrivals: Calendar::new(longest[0]),
            due_credits: Vec::new(),
            due_flits: Vec::new(),
            // (until `set_routers`: every port counts as port 0 of router 0)
            held: vec![0],
            occupancy: capacity
                .iter()
                .map(|&cap| Histogram::covering(vcs as u64 * cap as u64))
                .collect(),
        }
    }

    /// Says which router each port belongs to: router `r`'s ports are
    /// `first[r]..first[r + 1]` (the last entry is the port count).
    pub fn set_routers(&mut self, first: &[u32]) {
        self.held = vec![0; first.len().saturating_sub(1)];
        for (r, w) in first.windows(2).enumerate() {
            for (k, i) in (w[0]..w[1]).enumerate() {
                let port = &mut self.ports[i as usize];
                (port.router, port.port) = (r as u32, k as u32);
            }
        }
    }

    /// Router `r`'s ports holding flits.
    #[inline]
    pub fn held(&self, r: u32) -> u128 {
        *at(&self.held, r as usize)
    }

    /// Output VC `(o, vc)`'s place in `outputs`.
    #[inline]
    fn output_index(&self, o: u32, vc: usize) -> usize {
        o as usize * self.vcs + vc
    }

    /// Input VC `(i, vc)`'s place in `rings`.
    #[inline]
    fn ring_index(&self, i: u32, vc: usize) -> usize {
        i as usize * self.vcs + vc
    }

    #[inline]
    fn output_vc(&mut self, o: u32, vc: usize) -> &mut OutputVc {
        let i = self.output_index(o, vc);
        // (outputs are router ports, VCs below `vcs`: see `dense`)
        at_mut(&mut self.outputs, i)
    }

    /// Hands the router ports what arrives over plain links at cycle `c`:
    /// credits to their outputs, flits into their inputs' buffers. Returns
    /// how many of each, or the input a flit overflowed.
    #[inline]
    pub fn arrive(&mut self, c: Cycle) -> Result<(usize, usize), (u32, Overflow)> {
        if self.returns.is_empty() && self.arrivals.is_empty() {
            return Ok((0, 0));
        }
        let mut credits = std::mem::take(&mut self.due_credits);
        self.returns.take_due(c, &mut credits);
        for &(_, (o, vc)) in &credits {
            let out = self.output_vc(o, vc as usize);
            out.credits += 1;
            out.returning -= 1;
        }
        let credited = credits.len();
        self.due_credits = credits;
        let mut flits = std::mem::take(&mut self.due_flits);
        self.arrivals.take_due(c, &mut flits);
        for (_, (o, i, flit)) in &flits {
            self.output_vc(*o, flit.vc as usize).on_wire -= 1;
            self.accept(*i, flit, c).map_err(|e| (*i, e))?;
        }
        let arrived = flits.len();
        self.due_flits = flits;
        Ok((credited, arrived))
    }

    /// A credit of VC `vc` heads back to output `o`, arriving at cycle `at`.
    #[inline]
    pub fn return_credit(&mut self, o: u32, vc: usize, at: Cycle) {
        self.output_vc(o, vc).returning += 1;
        self.returns.send((o, vc as u32), at);
    }

    /// Output `o` sends `flit` to input `i` of the next router over a plain
    /// link, arriving at cycle `at`.
    #[inline]
    pub fn send_flit(&mut self, o: u32, i: u32, flit: Flit, at: Cycle) {
        self.output_vc(o, flit.vc as usize).on_wire += 1;
        self.arrivals.send((o, i, flit), at);
    }

    /// Makes output `o` send its flits to input `input` through the
    /// calendar, arriving `delay` cycles after they leave (`NO_PORT`: on its
    /// link direction).
    pub fn set_downstream(&mut self, o: u32, input: u32, delay: u64) {
        self.downstream[o as usize].leg = Leg {
            to: input,
            delay: delay as u32,
        };
    }

    /// Sends `flit`, leaving output `o` in cycle `c`, through the calendar
    /// if that is the output's way; says whether it did.
    #[inline]
    pub fn send_downstream(&mut self, o: u32, flit: Flit, c: Cycle) -> bool {
        let d = at_mut(&mut self.downstream, o as usize);
        let Some((input, at)) = d.leg.arrival(c) else {
            return false;
        };
        d.flits += 1;
        d.payload_bytes += flit.payload_bytes as u64;
        self.send_flit(o, input, flit, at);
        true
    }

    /// The flits and payload bytes output `o` sent through the calendar
    /// (its link direction's share of its counters).
    pub fn sent(&self, o: u32) -> (u64, u64) {
        let d = &self.downstream[o as usize];
        (d.flits, d.payload_bytes)
    }

    /// Takes those counters (to hand them to the link direction).
    pub fn take_sent(&mut self, o: u32) -> (u64, u64) {
        let d = &mut self.downstream[o as usize];
        (
            std::mem::take(&mut d.flits),
            std::mem::take(&mut d.payload_bytes),
        )
    }

    /// Flits of VC `vc` output `o` sent through the calendar, not arrived yet.
    pub fn on_wire(&self, o: u32, vc: usize) -> u32 {
        self.outputs[self.output_index(o, vc)].on_wire
    }

    /// Makes input `i`'s freed buffers credit output `upstream` after
    /// `cycles` through the calendar (`NO_PORT`: its link direction does).
    pub fn set_upstream(&mut self, i: u32, upstream: u32, cycles: u64) {
        self.ports[i as usize].upstream = Leg {
            to: upstream,
            delay: cycles as u32,
        };
    }

    /// Sends the credit of a flit of VC `vc` that left input `i` in cycle
    /// `c` back through the calendar, if that is the input's way; says
    /// whether it did.
    #[inline]
    pub fn return_upstream(&mut self, i: u32, vc: usize, c: Cycle) -> bool {
        let Some((upstream, at)) = at(&self.ports, i as usize).upstream.arrival(c) else {
            return false;
        };
        self.return_credit(upstream, vc, at);
        true
    }

    /// Credits of VC `vc` on their way back to output `o` (see `return_credit`).
    pub fn returning(&self, o: u32, vc: usize) -> u32 {
        self.outputs[self.output_index(o, vc)].returning
    }

    /// The earliest cycle a flit or a credit arrives through the calendars.
    pub fn next_arrival(&self) -> Option<Cycle> {
        let (f, r) = (self.arrivals.next_arrival(), self.returns.next_arrival());
        f.into_iter().chain(r).min()
    }

    /// Credits of VC `vc` of output `o`.
    #[inline]
    pub fn credits(&self, o: u32, vc: usize) -> u32 {
        at(&self.outputs, self.output_index(o, vc)).credits
    }

    /// Spends a credit of VC `vc` of output `o` (which has one).
    #[inline]
    pub fn take_credit(&mut self, o: u32, vc: usize) {
        let k = &mut self.output_vc(o, vc).credits;
        debug_assert!(*k > 0);
        *k -= 1;
    }

    /// A credit of VC `vc` of output `o` came back.
    #[inline]
    pub fn give_credit(&mut self, o: u32, vc: usize) {
        self.output_vc(o, vc).credits += 1;
    }

    /// Buffers a flit arriving at input `i`.
    #[inline]
    ///
    /// (By reference: the flit is copied from where it lies straight into
    /// its slot; taken by value, the compiler split it into pieces through
    /// the stack, and the slot's store waited on a failed store forwarding.)
    pub fn accept(&mut self, i: u32, flit: &Flit, c: Cycle) -> Result<(), Overflow> {
        // (`i` is a router input; the flit's VC is checked here, once, for
        // every later unchecked use: see `dense`)
        let vc = flit.vc as usize;
        if vc >= self.vcs {
            return Err(Overflow {
                vc: flit.vc,
                capacity: 0,
            });
        }
        let r = self.ring_index(i, vc);
        let port = at_mut(&mut self.ports, i as usize);
        let ring = at_mut(&mut self.rings, r);
        if ring.len >= port.capacity {
            return Err(Overflow {
                vc: flit.vc,
                capacity: port.capacity,
            });
        }
        let mut slot = ring.head + ring.len;
        if slot >= port.capacity {
            slot -= port.capacity;
        }
        // (the slot is below the VC's capacity)
        *at_mut(&mut self.flits, port.slot(vc, slot)) = *flit;
        ring.len += 1;
        port.nonempty |= 1 << vc;
        if port.occupancy == 0 {
            *at_mut(&mut self.held, port.router as usize) |= 1 << port.port;
        }
        record(
            at_mut(&mut self.occupancy, i as usize),
            port.occupancy,
            &mut port.since,
            c,
        );
        port.occupancy += 1;
        port.max_occupancy = port.max_occupancy.max(port.occupancy);
        Ok(())
    }

    /// The flit at the head of VC `vc` of input `i`.
    #[inline]
    pub fn front(&self, i: u32, vc: usize) -> Option<&Flit> {
        let port = at(&self.ports, i as usize);
        let ring = *at(&self.rings, self.ring_index(i, vc));
        let head = port.slot(vc, ring.head);
        (ring.len > 0).then(|| at(&self.flits, head))
    }

    /// Takes the flit at the head of VC `vc` of input `i` (a router forwarding it).
    ///
    /// Contract: the VC holds a flit.
    #[inline]
    pub fn pop(&mut self, i: u32, vc: usize, c: Cycle) -> Flit {
        let r = self.ring_index(i, vc);
        let port = at_mut(&mut self.ports, i as usize);
        let ring = at_mut(&mut self.rings, r);
        assert!(ring.len > 0, "a router forwards a flit it saw");
        let flit = *at(&self.flits, port.slot(vc, ring.head));
        ring.head += 1;
        if ring.head == port.capacity {
            ring.head = 0;
        }
        ring.len -= 1;
        if ring.len == 0 {
            port.nonempty &= !(1 << vc);
        }
        record(
            at_mut(&mut self.occupancy, i as usize),
            port.occupancy,
            &mut port.since,
            c,
        );
        port.occupancy -= 1;
        if port.occupancy == 0 {
            *at_mut(&mut self.held, port.router as usize) &= !(1 << port.port);
        }
        flit
    }

    /// Input `i`'s buffers' occupancy statistics.
    pub fn occupancy_stats(&self, i: u32) -> Occupancy {
        let port = &self.ports[i as usize];
        Occupancy::from_parts(
            port.occupancy,
            port.since,
            port.max_occupancy,
            self.occupancy[i as usize].clone(),
        )
    }

    /// Bit `v` set iff VC `v` of input `i` holds a flit.
    #[inline]
    pub fn nonempty(&self, i: u32) -> u64 {
        at(&self.ports, i as usize).nonempty
    }

    /// Flits held at input `i` over all VCs.
    #[inline]
    pub fn occupancy(&self, i: u32) -> u32 {
        self.ports[i as usize].occupancy
    }

    pub fn len(&self, i: u32, vc: usize) -> usize {
        self.rings[self.ring_index(i, vc)].len as usize
    }

    pub fn capacity(&self, i: u32) -> u32 {
        self.ports[i as usize].capacity
    }

    /// The flits of VC `vc` of input `i`, front first, as two runs of the ring.
    pub fn flits(&self, i: u32, vc: usize) -> (&[Flit], &[Flit]) {
        let port = &self.ports[i as usize];
        let ring = self.rings[self.ring_index(i, vc)];
        let (cap, head, len) = (
            port.capacity as usize,
            ring.head as usize,
            ring.len as usize,
        );
        let buf = &self.flits[port.slot(vc, 0)..][..cap];
        let first = len.min(cap - head);
        (&buf[head..head + first], &buf[..len - first])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flit(msg: u32, vc: u8) -> Flit {
        Flit {
            msg: crate::ids::MsgId(msg),
            vc,
            ..Flit::default()
        }
    }

    #[test]
    fn each_vc_is_a_fifo_of_its_capacity_across_the_wrap() {
        let mut b = RouterPorts::new(2, &[3, 2], &[3, 2], [1, 1]);
        for round in 0..4 {
            for k in 0..3 {
                b.accept(0, &flit(round * 10 + k, 1), 0).unwrap();
            }
            assert!(
                b.accept(0, &flit(99, 1), 0).is_err(),
                "a fourth flit overflows"
            );
            assert_eq!((b.nonempty(0), b.occupancy(0), b.len(0, 1)), (0b10, 3, 3));
            let (a, w) = b.flits(0, 1);
            let held: Vec<u32> = a.iter().chain(w).map(|f| f.msg.0).collect();
            assert_eq!(held, [round * 10, round * 10 + 1, round * 10 + 2]);
            assert_eq!(b.front(0, 1).unwrap().msg.0, round * 10);
            // take two, leaving the head mid-ring for the next round's wrap
            assert_eq!(b.pop(0, 1, 0).msg.0, round * 10);
            assert_eq!(b.pop(0, 1, 0).msg.0, round * 10 + 1);
            assert_eq!(b.pop(0, 1, 0).msg.0, round * 10 + 2);
            assert_eq!((b.nonempty(0), b.occupancy(0)), (0, 0));
            b.accept(0, &flit(7, 1), 0).unwrap();
            b.pop(0, 1, 0);
        }
        // the other input and VC are untouched
        b.accept(1, &flit(5, 0), 0).unwrap();
        b.accept(1, &flit(6, 0), 0).unwrap();
        assert!(b.accept(1, &flit(7, 0), 0).is_err());
        assert_eq!(
            (b.front(1, 0).unwrap().msg.0, b.front(1, 1).is_none()),
            (5, true)
        );
        assert_eq!((b.nonempty(1), b.capacity(1), b.len(0, 0)), (0b01, 2, 0));
        // a VC the ports have no buffer for is refused, not indexed
        let e = b.accept(1, &flit(8, 2), 0).unwrap_err();
        assert_eq!((e.vc, e.capacity), (2, 0));
        assert_eq!(b.occupancy(1), 2);
        assert!(overflow_message("port 1", e.vc, e.capacity).contains("no buffer for"));
    }

    #[test]
    fn output_credits_count_down_and_back_per_port_and_vc() {
        let mut b = RouterPorts::new(2, &[1, 1], &[2, 0], [1, 1]);
        b.take_credit(0, 1);
        b.take_credit(0, 1);
        assert_eq!((b.credits(0, 1), b.credits(0, 0)), (0, 2));
        b.give_credit(0, 1);
        b.give_credit(1, 0);
        assert_eq!(
            (b.credits(0, 1), b.credits(1, 0), b.credits(1, 1)),
            (1, 1, 0)
        );
    }

    #[test]
    fn returning_credits_count_as_returning_until_their_cycle() {
        let mut b = RouterPorts::new(2, &[1, 1], &[2, 2], [3, 3]);
        b.take_credit(1, 1);
        b.return_credit(1, 1, 13);
        assert_eq!((b.credits(1, 1), b.returning(1, 1)), (1, 1));
        assert_eq!(b.next_arrival(), Some(13));
        assert_eq!(b.arrive(12).unwrap(), (0, 0));
        assert_eq!(b.arrive(13).unwrap(), (1, 0));
        assert_eq!((b.credits(1, 1), b.returning(1, 1)), (2, 0));
        assert_eq!((b.credits(1, 0), b.next_arrival()), (2, None));
    }

    #[test]
    fn flits_sent_between_ports_count_as_on_the_wire_until_they_arrive() {
        let mut b = RouterPorts::new(2, &[1, 1], &[1, 1], [2, 2]);
        b.take_credit(1, 0);
        b.send_flit(1, 0, flit(4, 0), 6);
        assert_eq!((b.on_wire(1, 0), b.front(0, 0).is_none()), (1, true));
        assert_eq!(b.arrive(5).unwrap(), (0, 0));
        assert_eq!(b.arrive(6).unwrap(), (0, 1));
        assert_eq!((b.on_wire(1, 0), b.front(0, 0).unwrap().msg.0), (0, 4));
        assert_eq!(b.occupancy(0), 1);
        // a flit sent without a credit overflows its buffer: the arrival says where
        b.send_flit(1, 0, flit(5, 0), 7);
        assert_eq!(b.arrive(7).unwrap_err().0, 0);
    }

    #[test]
    fn each_router_knows_which_of_its_ports_hold_flits() {
        // router 0 has ports 0..2, router 1 ports 2..5
        let mut b = RouterPorts::new(2, &[2; 5], &[2; 5], [1, 1]);
        b.set_routers(&[0, 2, 5]);
        b.accept(3, &flit(1, 0), 0).unwrap();
        b.accept(3, &flit(2, 1), 0).unwrap();
        b.accept(1, &flit(3, 1), 0).unwrap();
        assert_eq!((b.held(0), b.held(1)), (0b10, 0b010));
        b.pop(3, 0, 1);
        assert_eq!(b.held(1), 0b010, "port 3 still holds a flit on VC 1");
        b.pop(3, 1, 1);
        b.accept(4, &flit(4, 0), 1).unwrap();
        assert_eq!((b.held(0), b.held(1)), (0b10, 0b100));
        b.pop(1, 1, 2);
        assert_eq!(b.held(0), 0);
    }
}
