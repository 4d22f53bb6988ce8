//! One direction of a link and its link layer: the noisy wire, the credit
//! and ACK/NAK return paths, the go-back-N ends, scripted faults, and the
//! receive port at the far end.
//!
//! ```text
//!  sender (TxPort + ReplaySender)             receiver (SeqReceiver + RxPort)
//!     | new flit: credit, seq, replay buffer       |
//!     +--> channel (BER/FEC/CRC, faults) --> wire --> CRC / sequence check --> buffer --> drain
//!     <------------------ ACK / NAK (ctrl wire) ---+                                      |
//!     <------------------ credits (credit wire, coalesced) ------------------------------+
//! ```

use super::occupancy::Occupancy;
use super::router_ports::{overflow_message, RouterPorts, NO_PORT};
use super::{MessageLog, NEVER};
use crate::endpoint::{RxPort, TxPort};
use crate::engine::Activity;
use crate::error::{Error, Result};
use crate::ids::{EndpointId, MsgId};
use crate::link::channel::{Channel, Outcome};
use crate::link::retry::{Ctrl, ReplaySender, SeqReceiver, Verdict};
use crate::link::{CreditCounters, DelayLine, Flit, WireFlit};
use crate::result::LinkCounters;
use crate::rng::Rng;
use crate::spec::endpoint::DrainParams;
use crate::spec::faults::LinkFaults;
use crate::spec::reliability::Retry;
use crate::spec::LinkParams;
use crate::time::Cycle;

/// One end of a link direction: an endpoint, or a router's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Endpoint(EndpointId),
    Router(u32, u32),
}

impl Node {
    /// A number for reports: endpoints `0..n`, then routers `n..` (`n` endpoints).
    pub fn index(&self, endpoints: usize) -> u32 {
        match *self {
            Node::Endpoint(e) => e.0,
            Node::Router(r, _) => endpoints as u32 + r,
        }
    }
}

/// Where the new flit a link direction sends this cycle comes from.
pub enum Source<'a> {
    /// An endpoint's transmit port (chooses a VC and spends its credit).
    Port(&'a mut TxPort),
    /// A router, which chose the flit and spent the credit already.
    Given(Option<Flit>),
}

/// What travels back from a receiver to its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Back {
    /// A credit for this VC.
    Credit(u8),
    Ack(Ctrl),
}

impl Default for Back {
    fn default() -> Self {
        Back::Credit(0)
    }
}

/// Random-stream kind of link channels (see `Rng::for_component`).
const RNG_KIND_CHANNEL: u64 = 1;

/// Message-level bookkeeping shared by all receivers.
#[derive(Clone, Debug)]
pub struct Tally {
    pub log: MessageLog,
    pub delivered: usize,
    /// Flits sent and arrived, credits and ACK/NAKs arrived, flits drained.
    pub events: u64,
    /// Messages delivered since the owner last took them (kept only when
    /// something listens, as a collective executor does).
    pub fresh: Option<Vec<MsgId>>,
    /// Messages whose last flit an endpoint sent since the owner last took
    /// them (kept only when something listens, as the memory fabric does).
    pub sent: Option<Vec<MsgId>>,
    /// Flits leaving link directions, when the run records link spans.
    pub spans: Option<Box<crate::link_spans::LinkSpanLog>>,
}

impl Tally {
    /// The destination `at` took `flit` in cycle `c`: its message is
    /// delivered once its last flit and every other one it sent are in.
    #[inline]
    fn taken(&mut self, flit: Flit, at: Node, c: Cycle) -> Result<()> {
        let left = &mut self.log.in_flight[flit.msg];
        if *left & !super::LAST_FLIT_IN == 0
            || (flit.is(Flit::MSG_TAIL) && *left & super::LAST_FLIT_IN != 0)
        {
            return Err(Error::Invariant {
                cycle: c,
                message: format!(
                    "message {} delivered twice: the link layer passed a flit of it up at {at:?} more often than its source sent it (a sequence-number alias? see the link spec's warnings)",
                    flit.msg.0
                ),
            });
        }
        *left -= 1;
        if flit.is(Flit::MSG_TAIL) {
            *left |= super::LAST_FLIT_IN;
        }
        if *left == super::LAST_FLIT_IN {
            self.deliver(flit.msg, at, c)?;
        }
        Ok(())
    }

    /// A flit of `msg` vanished for good (a link down, no retry to send it
    /// again): its message no longer waits for it (delivered now if its
    /// last flit was in: at its destination, so no check can fail).
    fn gone(&mut self, msg: MsgId, c: Cycle) {
        let left = &mut self.log.in_flight[msg];
        *left = left.saturating_sub(1);
        if *left == super::LAST_FLIT_IN && self.log.deliver[msg] == NEVER {
            self.record_delivery(msg, c);
        }
    }

    /// Message `msg` arrived whole at endpoint `at` in cycle `c`.
    fn deliver(&mut self, msg: MsgId, at: Node, c: Cycle) -> Result<()> {
        let dst = self.log.dst[msg];
        if at != Node::Endpoint(EndpointId(dst)) {
            return Err(Error::Invariant {
                cycle: c,
                message: format!(
                    "message {} for endpoint {dst} was delivered at {at:?}: misrouted",
                    msg.0
                ),
            });
        }
        let slot = &mut self.log.deliver[msg];
        if *slot != NEVER {
            return Err(Error::Invariant {
                cycle: c,
                message: format!(
                    "message {} delivered twice: the link layer passed a flit up twice (a sequence-number alias? see the link spec's warnings)",
                    msg.0
                ),
            });
        }
        self.record_delivery(msg, c);
        Ok(())
    }

    fn record_delivery(&mut self, msg: MsgId, c: Cycle) {
        self.log.deliver[msg] = c;
        self.log.order[msg] = self.delivered as u64;
        self.delivered += 1;
        if let Some(fresh) = &mut self.fresh {
            fresh.push(msg);
        }
    }
}

/// A snapshot of one link direction (per-VC vectors are indexed by VC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkState {
    pub src: u32,
    pub dst: u32,
    /// Sender's credits.
    pub credits: Vec<u32>,
    /// Messages admitted at the sender and not fully sent.
    pub queued_messages: Vec<u32>,
    pub flits_on_wire: u32,
    /// Flits in the receiver's buffers.
    pub buffered: Vec<u32>,
    /// Credits on the way back or held for coalescing.
    pub credits_returning: Vec<u32>,
    pub acks_in_flight: u32,
    /// Sender: next new sequence number, oldest unacknowledged one (full counters).
    pub next_seq: u64,
    pub acked_seq: u64,
    pub replaying: bool,
    /// Receiver: next sequence number expected (full counter).
    pub expected_seq: u64,
    /// Flits put on the wire so far, replays included.
    pub transmissions: u64,
}

/// Counters of one link direction (`repr(C)`: those every flit moves first).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct LinkDirStats {
    /// New flits sent (replays not included).
    pub flits: u64,
    pub payload_bytes: u64,
    /// The exported link-layer counters this direction keeps.
    pub counters: LinkCounters,
}

/// The per-direction numbers of a link kind, in fabric cycles.
#[derive(Clone, Copy, Debug)]
pub struct DirTiming {
    pub latency_cycles: u64,
    pub credit_return_cycles: u64,
    pub credit_coalesce_flits: u32,
    pub credits_per_vc: u32,
    pub pace: Pace,
}

/// A link slower than the fabric's clock (one flit per cycle of the fastest
/// link) sends `num` flits per `den` cycles: a flit may start at cycle `c`
/// once `c * num` reaches `free`, the tick (`1/num` of a cycle) its previous
/// flit's serialization ended; back-to-back flits keep the fractional
/// remainder, so the long-run rate is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    pub num: u64,
    pub den: u64,
    free: u64,
}

impl Pace {
    /// `num / den` flits per cycle (`num <= den`; 1/1 is unpaced).
    pub fn new(num: u64, den: u64) -> Self {
        Self { num, den, free: 0 }
    }

    #[inline]
    pub fn unpaced(&self) -> bool {
        self.num == self.den
    }

    #[inline]
    pub fn ready(&self, c: Cycle) -> bool {
        self.unpaced() || c * self.num >= self.free
    }

    /// A flit started at cycle `c` (when `ready(c)`).
    #[inline]
    fn sent(&mut self, c: Cycle) {
        if !self.unpaced() {
            let now = c * self.num;
            // within a cycle of the previous flit's end: it waited, so it
            // started when the wire came free
            let start = if now < self.free + self.num {
                self.free
            } else {
                now
            };
            self.free = start + self.den;
        }
    }
}

#[derive(Clone, Debug)]
/// (`repr(C)`, fields in this order: what a flit's hop reads comes first,
/// in as few cache lines as can hold it; on a large fabric a hop's misses
/// on these structs are most of its cost.)
#[repr(C)]
pub struct LinkDir {
    /// The receiver is input `input` of the [`RouterPorts`] (or `NO_PORT`):
    /// flits wait in its buffers, not in `rx`, until the router forwards
    /// them ([`LinkDir::forwarded`] returns the credit).
    input: u32,
    /// The sender is router port `output` of the [`RouterPorts`], which
    /// keeps this direction's credits (`credits` is unused then).
    output: u32,
    /// The receiver is an endpoint that takes flits itself (`take`) when it
    /// has room for them, as a memory device does: until then they wait in
    /// the buffers and hold their credits (backpressure into the fabric).
    held: bool,
    /// Extra cycles before a sent flit reaches the wire (a router pipeline).
    extra_delay: u64,
    /// Transmissions so far, replays included (what fault plans count).
    transmissions: u64,
    /// This direction's own link timing (a fabric may mix link kinds).
    pub timing: DirTiming,
    /// The error channel and the fault plan, boxed: cold next to the
    /// buffers and credits, they would spread the hot fields over more
    /// cache lines. Both are `None` when they can do nothing (no bit errors, no fault
    /// scripted), so that an error-free flit never follows their pointers.
    channel: Option<Box<Channel>>,
    faults: Option<Box<LinkFaults>>,
    /// Boxed, as `channel`: without retry, `None` in the hot lines.
    pub sender: Option<Box<ReplaySender>>,
    pub receiver: Option<Box<SeqReceiver>>,
    pub stats: LinkDirStats,
    /// The receive buffers' occupancy (a router's input keeps its own in
    /// the [`RouterPorts`]).
    occupancy: Occupancy,
    wire: DelayLine<WireFlit>,
    /// Credits and ACK/NAKs on their way back to this direction's sender:
    /// one return path (as PCIe's DLLPs carry both), one latency.
    back_wire: DelayLine<Back>,
    pub rx: RxPort,
    /// The sender's credits: free buffers of the receiver, per VC (an
    /// endpoint sender's; a router's are in the [`RouterPorts`]).
    pub credits: CreditCounters,
    /// Per VC: credits freed but not yet returned (coalescing), credits
    /// lost to faults, credits of flits that vanished without retry.
    pending_credits: Vec<u32>,
    lost_credits: Vec<u32>,
    /// NAKs and ACKs the receiver sends this cycle (reused: no allocation).
    ctrl_out: Vec<Ctrl>,
    pub src: Node,
    pub dst: Node,
    /// Its index among the link directions (`res.links` order).
    id: u32,
    /// The run records link spans: its flits go through it (not the router
    /// ports' calendar), where they are recorded.
    traced: bool,
}

impl LinkDir {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: u32,
        (src, dst): (Node, Node),
        p: &LinkParams,
        drain: Option<DrainParams>,
        seed: u64,
        faults: LinkFaults,
        extra_delay: u64,
        pace: Pace,
    ) -> Self {
        let to_router = matches!(dst, Node::Router(..));
        let drain = if to_router { None } else { drain };
        let r = &p.reliability;
        let (sender, receiver) = match r.retry {
            Retry::GoBackN | Retry::SelectiveRepeat => {
                let selective = r.retry == Retry::SelectiveRepeat;
                // A router output's pipeline delay sits between the sender
                // and the wire here, so its flits hold replay slots and the
                // ACK comes that much later: the buffer and the timeout grow
                // by the delay (as far as the sequence space allows), so the
                // pipeline costs latency, not link throughput.
                let limit = if selective {
                    r.seq_modulus / 2
                } else {
                    r.seq_modulus - 1
                };
                let buffer =
                    (r.replay_buffer_flits + extra_delay).min(limit.max(r.replay_buffer_flits));
                (
                    Some(Box::new(ReplaySender::new(
                        r.seq_modulus,
                        buffer,
                        r.replay_timeout_cycles + extra_delay,
                        selective,
                    ))),
                    Some(Box::new(SeqReceiver::new(
                        r.seq_modulus,
                        r.ack_coalesce_flits,
                        r.ack_timer_cycles,
                        p.credit_round_trip_cycles(),
                        selective.then_some(buffer),
                    ))),
                )
            }
            Retry::None => (None, None),
        };
        let vcs = p.vcs as usize;
        Self {
            src,
            dst,
            id: index,
            traced: false,
            input: NO_PORT,
            output: NO_PORT,
            held: false,
            extra_delay,
            timing: DirTiming {
                latency_cycles: p.latency_cycles,
                credit_return_cycles: p.credit_return_cycles,
                credit_coalesce_flits: p.credit_coalesce_flits,
                credits_per_vc: p.credits_per_vc,
                pace,
            },
            wire: DelayLine::default(),
            back_wire: DelayLine::default(),
            credits: CreditCounters::new(p.vcs, p.credits_per_vc),
            rx: RxPort::new(p.vcs, p.credits_per_vc, drain),
            sender,
            receiver,
            channel: r.noisy().then(|| {
                Box::new(Channel::new(
                    r,
                    Rng::for_component(seed, RNG_KIND_CHANNEL, index as u64),
                ))
            }),
            faults: (!faults.is_empty()).then(|| Box::new(faults)),
            transmissions: 0,
            pending_credits: vec![0; vcs],
            ctrl_out: Vec::new(),
            lost_credits: vec![0; vcs],
            stats: LinkDirStats {
                flits: 0,
                payload_bytes: 0,
                counters: LinkCounters::default(),
            },
            occupancy: Occupancy::new(p.vcs as u64 * p.credits_per_vc as u64),
        }
    }

    /// Nothing can happen in `inputs` at cycle `c`: no arrival, no ACK due,
    /// and an unpaced receiver (whose per-cycle statistics are derived).
    #[inline]
    pub fn inputs_idle(&self, c: Cycle) -> bool {
        (self.holds() || self.rx.is_unpaced())
            && self.wire.next_arrival().is_none_or(|a| a > c)
            && self.back_wire.next_arrival().is_none_or(|a| a > c)
            && self.receiver.as_ref().is_none_or(|r| !r.ack_pending_at(c))
    }

    /// A cycle before which `inputs` has nothing to do (`inputs_idle` holds
    /// until then): the next arrival on either wire, or 0 when a timer or a
    /// paced drain may need any cycle. Kept by the network in a dense array
    /// so that its per-cycle sweep reads 8 bytes per idle direction, not the
    /// direction itself.
    #[inline]
    pub fn wakes_at(&self) -> Cycle {
        if self.receiver.is_some() || !(self.holds() || self.rx.is_unpaced()) {
            return 0;
        }
        let wire = self.wire.next_arrival().unwrap_or(NEVER);
        wire.min(self.back_wire.next_arrival().unwrap_or(NEVER))
    }

    /// Cycles from sending a flit to its arrival (a later wake than any
    /// flit sent now can set: see `Network::wake`).
    #[inline]
    pub fn wire_delay(&self) -> Cycle {
        1 + self.extra_delay + self.timing.latency_cycles
    }

    /// Nothing can happen in `output` at cycle `c` for a sender whose port
    /// `tx` has admitted its due messages: nothing queued, no replay, no
    /// replay timer due (so no statistic moves either).
    #[inline]
    pub fn output_idle(&self, c: Cycle, queued: bool) -> bool {
        !queued
            && self
                .sender
                .as_ref()
                .is_none_or(|s| !s.replaying() && s.deadline().is_none_or(|d| d > c))
    }

    /// The input half of cycle `c` at both ends of this direction: flits
    /// reach the receiver (CRC and sequence check, buffer or consume, ACK or
    /// NAK), ACK/NAKs reach the sender, credits reach `tx`, and a paced
    /// receiver drains.
    #[inline]
    pub fn inputs(
        &mut self,
        c: Cycle,
        tally: &mut Tally,
        act: &mut Activity,
        rp: &mut RouterPorts,
    ) -> Result<()> {
        // An unpaced receiver drains everything it holds every cycle, so
        // consuming what the link layer passes up at once (see `pass_up`) is
        // exactly accept + drain.
        // Router inputs hold flits until the router forwards them.
        let unpaced = !self.holds() && self.rx.is_unpaced();
        if self.receiver.is_some() {
            self.ctrl_out.clear();
        }
        while let Some(w) = self.wire.pop_due(c) {
            let flit = w.flit;
            tally.events += 1;
            let detected = flit.is(Flit::DETECTED);
            if flit.is(Flit::DETECTED | Flit::CORRECTED | Flit::UNDETECTED) {
                // (a clean flit, nearly all of them, writes no counter)
                self.stats.counters.flits_corrupted += detected as u64;
                self.stats.counters.flits_fec_corrected += flit.is(Flit::CORRECTED) as u64;
                self.stats.counters.flits_undetected += flit.is(Flit::UNDETECTED) as u64;
            }
            let verdict = match &mut self.receiver {
                Some(r) => r.on_flit(&w, detected, c, &mut self.ctrl_out),
                None => Verdict::Accept,
            };
            if verdict == Verdict::Drop {
                continue;
            }
            self.pass_up(flit, c, tally, act, rp)?;
            // Selective repeat: flits held past the gap this one filled.
            while let Some(held) = self.receiver.as_mut().and_then(|r| r.next_released(c)) {
                self.pass_up(held, c, tally, act, rp)?;
            }
        }
        if let Some(r) = &mut self.receiver {
            // Go-back-N NAKs acknowledge too: no ACK goes with them.
            if self.ctrl_out.is_empty() || r.is_selective() {
                if let Some(ack) = r.ack_due(c) {
                    self.ctrl_out.push(ack);
                }
            }
            for &ctrl in &self.ctrl_out {
                if self.faults.as_mut().is_some_and(|f| f.drops_ack(c)) {
                    self.stats.counters.acks_dropped += 1;
                } else {
                    self.back_wire
                        .push(c + self.timing.credit_return_cycles, Back::Ack(ctrl));
                }
            }
        }
        while let Some(back) = self.back_wire.pop_due(c) {
            tally.events += 1;
            match back {
                Back::Credit(vc) if self.output != NO_PORT => {
                    rp.give_credit(self.output, vc as usize)
                }
                Back::Credit(vc) => self.credits.give(vc as usize),
                Back::Ack(ctrl) => {
                    if let Some(s) = &mut self.sender {
                        s.on_ctrl(ctrl, c);
                    }
                }
            }
        }
        if !unpaced {
            if !self.holds() {
                self.rx.refill();
                while let Some(flit) = self.rx.next_drained() {
                    act.progressed = true;
                    self.consume(flit, c, tally, rp)?;
                }
            }
            // (a router input's `rx` is unused: not even read)
            act.busy |= !self.to_router() && self.rx.will_drain();
        }
        if !self.to_router() {
            // (a router's input buffers keep their own)
            self.occupancy.note(c, self.rx.occupancy());
        }
        Ok(())
    }

    /// The link layer hands `flit` up: into the receive buffer, or consumed at
    /// once by an unpaced receiver.
    #[inline(always)]
    fn pass_up(
        &mut self,
        flit: Flit,
        c: Cycle,
        tally: &mut Tally,
        act: &mut Activity,
        rp: &mut RouterPorts,
    ) -> Result<()> {
        act.progressed = true;
        if flit.is(Flit::UNDETECTED) || flit.is(Flit::DETECTED) {
            tally.log.corrupt[flit.msg] = true;
        }
        let (vc, capacity) = if self.to_router() {
            match rp.accept(self.input, &flit, c) {
                Ok(()) => return Ok(()),
                Err(o) => (o.vc, o.capacity),
            }
        } else if self.rx.is_unpaced() && !self.held {
            return self.consume(flit, c, tally, rp);
        } else {
            match self.rx.accept(flit) {
                Ok(()) => return Ok(()),
                Err(o) => (o.vc, o.capacity),
            }
        };
        Err(Error::Invariant {
            cycle: c,
            message: overflow_message(format!("{:?}", self.dst), vc, capacity),
        })
    }

    /// The receiver is done with `flit`: its credit heads back (in batches of
    /// `credit_coalesce_flits`), and a message's last flit delivers it.
    #[inline(always)]
    fn consume(
        &mut self,
        flit: Flit,
        c: Cycle,
        tally: &mut Tally,
        rp: &mut RouterPorts,
    ) -> Result<()> {
        tally.events += 1;
        let vc = flit.vc as usize;
        // (one credit per flit, the usual case, needs no count)
        let coalesced = self.timing.credit_coalesce_flits > 1;
        if coalesced {
            self.pending_credits[vc] += 1;
        }
        if !coalesced || self.pending_credits[vc] >= self.timing.credit_coalesce_flits {
            let n = if coalesced {
                std::mem::take(&mut self.pending_credits[vc])
            } else {
                1
            };
            let at = c + self.timing.credit_return_cycles;
            if self.faults.as_mut().is_some_and(|f| f.drops_credit(c)) {
                self.lost_credits[vc] += n;
                self.stats.counters.credits_dropped += n as u64;
            } else if self.credits_through_ports() {
                rp.return_credit(self.output, vc, at);
            } else {
                for _ in 0..n {
                    self.back_wire.push(at, Back::Credit(flit.vc));
                }
            }
        }
        if !self.to_router() {
            tally.taken(flit, self.dst, c)?;
        }
        Ok(())
    }

    /// The receiver keeps flits in its buffers until it takes them: a
    /// router's input, or an endpoint told to hold (see [`LinkDir::hold`]).
    #[inline(always)]
    fn holds(&self) -> bool {
        self.to_router() || self.held
    }

    /// Makes an endpoint receiver hold its flits until it takes them.
    pub fn hold(&mut self, p: &LinkParams) {
        debug_assert!(!self.to_router() && self.rx.is_empty());
        self.held = true;
        self.rx = RxPort::new(p.vcs, self.timing.credits_per_vc, None);
    }

    /// A holding endpoint takes the head flit of `vc`: the buffer is free
    /// again and its credit heads back upstream; a message is delivered with
    /// its last flit.
    pub fn take_held(
        &mut self,
        vc: usize,
        c: Cycle,
        tally: &mut Tally,
        rp: &mut RouterPorts,
    ) -> Result<Flit> {
        debug_assert!(self.held);
        let flit = self.rx.pop(vc).expect("the endpoint takes a flit it saw");
        self.occupancy.note(c, self.rx.occupancy());
        self.consume(flit, c, tally, rp)?;
        Ok(flit)
    }

    /// The router took `flit` from this direction's input buffer and its
    /// credit heads back upstream (the router ports return it themselves
    /// on a plain link: see [`LinkDir::plain_return`]); returns the cycle
    /// it lands.
    #[inline]
    pub fn forwarded(
        &mut self,
        flit: Flit,
        c: Cycle,
        tally: &mut Tally,
        rp: &mut RouterPorts,
    ) -> Result<Cycle> {
        debug_assert!(self.to_router());
        self.consume(flit, c, tally, rp)?;
        Ok(c + self.timing.credit_return_cycles)
    }

    /// For a link from a router output to a router input whose credits come
    /// back one per flit with nothing on the way (no fault plan to drop
    /// them, no ACKs sharing the wire): `(input, output, cycles back)`. The
    /// router ports return those credits themselves (see
    /// [`RouterPorts::set_upstream`]), without this direction.
    pub fn plain_return(&self) -> Option<(u32, u32, u64)> {
        let plain = self.credits_through_ports() && self.faults.is_none();
        (plain && self.to_router()).then_some((
            self.input,
            self.output,
            self.timing.credit_return_cycles,
        ))
    }

    /// Credits go back one per flit to a router output with no ACKs on the
    /// return wire beside them: the router ports' credit calendar carries
    /// those that a fault plan does not drop (see `calendar.rs`).
    #[inline]
    fn credits_through_ports(&self) -> bool {
        self.output != NO_PORT && self.receiver.is_none() && self.timing.credit_coalesce_flits <= 1
    }

    /// The router input this direction feeds, if any.
    pub fn router_input(&self) -> Option<u32> {
        self.to_router().then_some(self.input)
    }

    /// The router output this direction leaves, if any.
    pub fn router_output(&self) -> Option<u32> {
        (self.output != NO_PORT).then_some(self.output)
    }

    /// Makes this direction feed input `i` of the [`RouterPorts`].
    pub fn feed_router_input(&mut self, i: u32) {
        debug_assert!(matches!(self.dst, Node::Router(..)));
        self.input = i;
    }

    /// The receiver is a router's input port.
    #[inline(always)]
    fn to_router(&self) -> bool {
        self.input != NO_PORT
    }

    /// Makes this direction leave output `o` of the [`RouterPorts`], which
    /// keeps its credits from now on.
    pub fn leave_router_output(&mut self, o: u32) {
        debug_assert!(matches!(self.src, Node::Router(..)));
        self.output = o;
    }

    /// The sender's credits of `vc`.
    pub fn credits_of(&self, vc: usize, rp: &RouterPorts) -> u32 {
        if self.output != NO_PORT {
            rp.credits(self.output, vc)
        } else {
            self.credits.get(vc)
        }
    }

    /// Every new flit is sent as soon as it is given: no retry (whose
    /// replays and full buffer hold new flits back) and no pacing.
    pub fn always_accepts(&self) -> bool {
        self.sender.is_none() && self.timing.pace.unpaced()
    }

    /// The flits the receiver holds on `vc`, front first, as two runs.
    pub fn buffered<'a>(&'a self, vc: usize, rp: &'a RouterPorts) -> (&'a [Flit], &'a [Flit]) {
        if self.to_router() {
            rp.flits(self.input, vc)
        } else {
            self.rx.flits(vc)
        }
    }

    /// The receiver's buffer size per VC.
    pub fn buffer_capacity(&self, rp: &RouterPorts) -> u32 {
        if self.to_router() {
            rp.capacity(self.input)
        } else {
            self.rx.capacity()
        }
    }

    /// Whether a new flit given at cycle `c` would be sent (no replay due or
    /// under way, room in the replay buffer): what a router checks first.
    #[inline]
    pub fn accepts_new(&self, c: Cycle) -> bool {
        self.timing.pace.ready(c)
            && self.sender.as_ref().is_none_or(|s| {
                !s.replaying() && s.deadline().is_none_or(|d| d > c) && s.has_room()
            })
    }

    /// The output half of cycle `c` for this direction's sender: a due
    /// replay timer, then one flit: a replay first, else a new flit from
    /// `tx` if the replay buffer has room.
    #[inline]
    pub fn output(
        &mut self,
        c: Cycle,
        p: &LinkParams,
        mut source: Source<'_>,
        tally: &mut Tally,
        act: &mut Activity,
    ) {
        // A due replay timer first; then a replay, else a new flit if the
        // replay buffer has room (one `tx.send` call site keeps it inlined).
        if !self.timing.pace.ready(c) {
            // a slow link's wire is still busy with its last flit
            debug_assert!(
                !matches!(source, Source::Given(Some(_))),
                "a router sent to a busy link"
            );
            if let Some(s) = self.sender.as_mut() {
                s.check_timeout(c);
            }
            act.busy = true;
            return;
        }
        let replay = self.sender.as_mut().and_then(|s| {
            s.check_timeout(c);
            s.replaying().then(|| s.next_replay())
        });
        let waiting = match &source {
            Source::Port(tx) => tx.has_queued(),
            Source::Given(f) => f.is_some(),
        };
        let flit = if replay.is_some() {
            debug_assert!(
                !matches!(source, Source::Given(Some(_))),
                "a router sent while a replay was due"
            );
            self.stats.counters.flits_replayed += 1;
            replay
        } else if self.sender.as_ref().is_some_and(|s| !s.has_room()) {
            self.stats.counters.replay_stall_cycles += waiting as u64;
            None
        } else {
            let from_port = matches!(source, Source::Port(_));
            let new = match source {
                Source::Port(ref mut tx) => tx
                    .send(p, &mut self.credits)
                    .map(|s| (s.flit, s.first_of_message)),
                Source::Given(f) => f.map(|f| (f, false)),
            };
            new.map(|(flit, first_of_message)| {
                let w = match &mut self.sender {
                    Some(s) => s.record_new(flit, c),
                    None => WireFlit { flit, seq: 0 },
                };
                self.stats.flits += 1;
                self.stats.payload_bytes += flit.payload_bytes as u64;
                if from_port {
                    tally.log.in_flight[flit.msg] += 1;
                }
                if first_of_message {
                    tally.log.send[flit.msg] = c;
                }
                if let Some(log) = &mut tally.spans {
                    log.sent(self.id, &flit, c);
                }
                if from_port && flit.is(Flit::MSG_TAIL) {
                    if let Some(sent) = &mut tally.sent {
                        sent.push(flit.msg);
                    }
                }
                act.progressed = true;
                w
            })
        };
        if let Some(w) = flit {
            tally.events += 1;
            self.timing.pace.sent(c);
            if let Some(msg) = self.transmit(w, c) {
                tally.gone(msg, c);
            }
        }
        let more = match &source {
            Source::Port(tx) => tx.sendable(&self.credits) != 0,
            Source::Given(_) => false, // the router says when it is busy
        };
        act.busy |= match &self.sender {
            Some(s) => s.replaying() || (s.has_room() && more),
            None => more,
        };
    }

    /// `output` of a flit a router gives to a link that takes every flit
    /// ([`LinkDir::always_accepts`]): with no error channel and no fault
    /// plan, only the counters and the wire (a hop's usual case, kept short).
    #[inline]
    pub fn output_given(
        &mut self,
        c: Cycle,
        p: &LinkParams,
        flit: Flit,
        tally: &mut Tally,
        act: &mut Activity,
    ) {
        debug_assert!(self.always_accepts());
        if self.channel.is_some() || self.faults.is_some() {
            return self.output(c, p, Source::Given(Some(flit)), tally, act);
        }
        self.stats.flits += 1;
        self.stats.payload_bytes += flit.payload_bytes as u64;
        if let Some(log) = &mut tally.spans {
            log.sent(self.id, &flit, c);
        }
        act.progressed = true;
        tally.events += 1;
        self.transmissions += 1;
        self.wire
            .push(c + self.wire_delay(), WireFlit { flit, seq: 0 });
    }

    /// Makes its flits go through it, where the run's link spans record
    /// them (call [`RouterPorts::set_downstream`] again after).
    pub fn trace(&mut self) {
        self.traced = true;
    }

    /// For a link from a router output to a router input that takes every
    /// flit as it comes, with nothing on the way (no error channel, no fault
    /// plan, no retry): `(output, input, cycles to arrive)`. The router ports
    /// carry its flits themselves (see [`RouterPorts::set_downstream`]),
    /// without this direction.
    pub fn plain_downstream(&self) -> Option<(u32, u32, u64)> {
        let plain = self.always_accepts()
            && self.receiver.is_none()
            && self.channel.is_none()
            && self.faults.is_none()
            && !self.traced;
        (plain && self.output != NO_PORT && self.to_router()).then_some((
            self.output,
            self.input,
            self.wire_delay(),
        ))
    }

    /// Takes back the counters the router ports kept while they carried
    /// this direction's flits (before it carries them again itself).
    pub fn take_port_counts(&mut self, rp: &mut RouterPorts) {
        if let Some(o) = self.router_output() {
            let (flits, bytes) = rp.take_sent(o);
            self.stats.flits += flits;
            self.stats.payload_bytes += bytes;
            self.transmissions += flits;
        }
    }

    /// New flits and payload bytes sent, the router ports' share included.
    pub fn sent(&self, rp: &RouterPorts) -> (u64, u64) {
        let (flits, bytes) = self.sent_by_ports(rp);
        (self.stats.flits + flits, self.stats.payload_bytes + bytes)
    }

    /// Flits put on the wire so far, replays included (what `utilization`
    /// counts).
    pub fn transmissions(&self, rp: &RouterPorts) -> u64 {
        self.transmissions + self.sent_by_ports(rp).0
    }

    /// The router ports' share of the flits and payload bytes sent.
    fn sent_by_ports(&self, rp: &RouterPorts) -> (u64, u64) {
        self.router_output().map_or((0, 0), |o| rp.sent(o))
    }

    /// Puts `flit` on the wire through the channel (errors, faults).
    #[inline]
    /// Returns the message of a flit lost for good (a link down with no
    /// retry to send it again).
    fn transmit(&mut self, mut w: WireFlit, c: Cycle) -> Option<MsgId> {
        let n = self.transmissions;
        self.transmissions += 1;
        let outcome = if self.faults.as_mut().is_some_and(|f| f.corrupts(n)) {
            Outcome::Detected
        } else {
            self.channel
                .as_mut()
                .map_or(Outcome::Clean, |ch| ch.sample())
        };
        w.flit.flags |= match outcome {
            Outcome::Clean => 0,
            Outcome::Corrected => Flit::CORRECTED,
            Outcome::Detected => Flit::DETECTED,
            Outcome::Undetected => Flit::UNDETECTED,
        };
        if self.faults.as_ref().is_some_and(|f| f.is_down(c)) {
            self.stats.counters.flits_lost += 1;
            if self.sender.is_none() {
                self.lost_credits[w.flit.vc as usize] += 1; // nothing will ever replay it
                return Some(w.flit.msg);
            }
            return None;
        }
        self.wire.push(c + self.wire_delay(), w);
        None
    }

    /// Accounts `k` skipped idle cycles exactly as `k` calls of `inputs` and
    /// `output` with nothing arriving would.
    pub fn account_idle(&mut self, tx: Option<&mut TxPort>, k: u64) {
        if let Some(tx) = tx {
            match &self.sender {
                Some(s) if !s.has_room() => {
                    self.stats.counters.replay_stall_cycles += tx.has_queued() as u64 * k
                }
                _ => tx.account_idle(k, &self.credits),
            }
        }
        if !self.holds() {
            self.rx.account_idle(k);
        }
    }

    /// The earliest future cycle something is scheduled on this direction.
    pub fn next_event(&self) -> Option<Cycle> {
        [
            self.wire.next_arrival(),
            self.back_wire.next_arrival(),
            self.sender.as_ref().and_then(|s| s.deadline()),
            self.receiver.as_ref().and_then(|r| r.ack_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Credits of `vc` in each place they can be: `(at sender, spent on flits
    /// not yet accepted, buffered, on their way back or held back)`. Counts
    /// what the wires and buffers hold rather than trusting counters.
    pub fn credit_census(&self, vc: usize, rp: &RouterPorts) -> (u32, u32, u32, u32) {
        let unaccepted = match (&self.sender, &self.receiver) {
            (Some(s), Some(r)) => s
                .unacked_from(r.expected)
                .filter(|f| f.vc as usize == vc)
                .count(),
            _ => self
                .wire
                .iter()
                .filter(|(_, w)| w.flit.vc as usize == vc)
                .count(),
        } as u32
            + self.on_port_calendar(vc, rp);
        let returning = self.credits_returning(vc, rp);
        (
            self.credits_of(vc, rp),
            unaccepted,
            self.buffered_len(vc, rp),
            returning + self.pending_credits[vc] + self.lost_credits[vc],
        )
    }

    /// Flits the receiver holds on `vc`.
    pub fn buffered_len(&self, vc: usize, rp: &RouterPorts) -> u32 {
        let (a, b) = self.buffered(vc, rp);
        (a.len() + b.len()) as u32
    }

    /// Flits of `vc` this direction sent through the router ports' calendar
    /// and not arrived yet.
    fn on_port_calendar(&self, vc: usize, rp: &RouterPorts) -> u32 {
        self.router_output().map_or(0, |o| rp.on_wire(o, vc))
    }

    /// Credits of `vc` on their way back: on the return wire, or through the
    /// router ports' calendar.
    fn credits_returning(&self, vc: usize, rp: &RouterPorts) -> u32 {
        let on = |b: &Back| matches!(*b, Back::Credit(v) if v as usize == vc);
        let wire = self.back_wire.iter().filter(|(_, b)| on(b)).count() as u32;
        wire + self.router_output().map_or(0, |o| rp.returning(o, vc))
    }

    /// Adds a scripted fault mid-run.
    pub fn add_fault(&mut self, fault: &crate::spec::faults::Fault, p: &LinkParams) {
        self.faults.get_or_insert_default().add(fault, p.clock);
    }

    /// A snapshot of this direction's link-layer state.
    pub fn state(
        &self,
        tx: Option<&TxPort>,
        vcs: usize,
        endpoints: usize,
        rp: &RouterPorts,
    ) -> LinkState {
        let per_vc = |f: &dyn Fn(usize) -> u32| (0..vcs).map(f).collect::<Vec<u32>>();
        LinkState {
            src: self.src.index(endpoints),
            dst: self.dst.index(endpoints),
            credits: per_vc(&|v| self.credits_of(v, rp)),
            queued_messages: tx.map_or_else(|| vec![0; vcs], |t| t.queued_messages()),
            flits_on_wire: self.wire.len() as u32
                + (0..vcs).map(|v| self.on_port_calendar(v, rp)).sum::<u32>(),
            buffered: per_vc(&|v| self.buffered_len(v, rp)),
            credits_returning: per_vc(&|v| self.credits_returning(v, rp) + self.pending_credits[v]),
            acks_in_flight: self
                .back_wire
                .iter()
                .filter(|(_, b)| matches!(b, Back::Ack(_)))
                .count() as u32,
            next_seq: self.sender.as_ref().map_or(0, |s| s.next_seq()),
            acked_seq: self.sender.as_ref().map_or(0, |s| s.acked()),
            replaying: self.sender.as_ref().is_some_and(|s| s.replaying()),
            expected_seq: self.receiver.as_ref().map_or(0, |r| r.expected),
            transmissions: self.transmissions + self.sent_by_ports(rp).0,
        }
    }

    /// The receive buffers' occupancy statistics (all VCs).
    pub fn occupancy(&self, rp: &RouterPorts) -> Occupancy {
        if self.to_router() {
            rp.occupancy_stats(self.input)
        } else {
            self.occupancy.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Node, Pace, Tally};
    use crate::ids::{EndpointId, IdVec, MsgId};
    use crate::network::{MessageLog, NEVER};

    #[test]
    fn a_message_delivered_anywhere_but_its_destination_is_an_error() {
        let never = || IdVec::from_vec(vec![NEVER; 1]);
        let mut tally = Tally {
            log: MessageLog {
                dst: IdVec::from_vec(vec![3]),
                offer: never(),
                send: never(),
                deliver: never(),
                order: never(),
                corrupt: IdVec::from_vec(vec![false]),
                in_flight: IdVec::from_vec(vec![0]),
            },
            delivered: 0,
            events: 0,
            fresh: None,
            sent: None,
            spans: None,
        };
        let e = tally.deliver(MsgId(0), Node::Endpoint(EndpointId(1)), 7);
        assert!(e.unwrap_err().to_string().contains("misrouted"));
        tally
            .deliver(MsgId(0), Node::Endpoint(EndpointId(3)), 7)
            .unwrap();
        assert_eq!((tally.delivered, tally.log.deliver[MsgId(0)]), (1, 7));
        assert!(tally
            .deliver(MsgId(0), Node::Endpoint(EndpointId(3)), 8)
            .is_err());
    }

    #[test]
    fn a_paced_link_keeps_its_exact_long_run_rate() {
        // 400 Gb/s on a 900 Gb/s clock: 4 flits per 9 cycles, back to back
        let mut p = Pace::new(4, 9);
        let sent: Vec<u64> = (0..90)
            .filter(|&c| {
                p.ready(c) && {
                    p.sent(c);
                    true
                }
            })
            .collect();
        assert_eq!(sent.len(), 40);
        assert_eq!(&sent[..5], &[0, 3, 5, 7, 9]); // 2.25 cycles apart on average
                                                  // after a pause the wire is idle: the next flit goes at once
        assert!(p.ready(200));
        p.sent(200);
        assert!(!p.ready(201) && !p.ready(202) && p.ready(203));
        assert!(Pace::new(1, 1).ready(0));
    }
}
