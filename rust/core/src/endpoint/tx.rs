//! Transmit side of a network interface, for one outgoing link direction.

use crate::ids::MsgId;
use crate::link::credits::pick_round_robin;
use crate::link::{CreditCounters, Flit};
use crate::spec::{LinkParams, Packing};
use crate::time::Cycle;
use std::collections::VecDeque;

/// Where the head message of one VC queue is in being cut into flits.
#[derive(Clone, Copy, Debug, Default)]
struct Segmenter {
    /// Message payload bytes not yet assigned to a packet.
    msg_left: u64,
    /// Wire bytes (payload + packet overhead) of the open packet not yet in a
    /// flit; 0 when no packet is open.
    pkt_wire_left: u64,
    /// Payload bytes of the open packet.
    pkt_payload: u32,
    /// Whether the head message has sent its first flit.
    started: bool,
}

/// A message admitted into a VC queue: its id and size, and wire bytes its
/// first packet carries beyond its payload and packet overhead (the header
/// slots of items merged into it that carry no data of their own).
#[derive(Clone, Copy, Debug)]
struct Queued {
    msg: MsgId,
    /// The message's destination endpoint (its flits carry it).
    dst: u32,
    bytes: u64,
    extra: u64,
}

/// A message a port is to send: from cycle `at`, on `vc`, to endpoint `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    pub at: Cycle,
    pub msg: MsgId,
    pub bytes: u64,
    pub vc: u8,
    pub dst: u32,
}

impl Offer {
    /// The message as its VC queue holds it (nothing merged into it yet).
    fn queued(&self) -> Queued {
        Queued {
            msg: self.msg,
            dst: self.dst,
            bytes: self.bytes,
            extra: 0,
        }
    }
}

/// A message offered for a cycle, not yet admitted.
#[derive(Clone, Copy, Debug)]
struct Planned {
    at: Cycle,
    vc: u8,
    q: Queued,
}

/// The last message of a VC that has not started: what may still grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unstarted {
    pub msg: MsgId,
    pub bytes: u64,
    pub extra: u64,
}

/// One flit chosen for the wire this cycle.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub flit: Flit,
    /// The flit is the first of its message (for the send timestamp).
    pub first_of_message: bool,
}

#[derive(Clone, Debug)]
pub struct TxPort {
    /// Messages of this source, ordered by (inject cycle, message id).
    plan: Vec<Planned>,
    next_plan: usize,
    /// `plan[next_plan].at` (`Cycle::MAX` past the end), kept beside the
    /// index: every port asks every cycle, and the plan's memory is cold.
    next_at: Cycle,
    queues: Vec<VecDeque<Queued>>,
    seg: Vec<Segmenter>,
    /// Bit `v` set iff `queues[v]` is non-empty.
    queued_mask: u64,
    /// Round-robin pointer over VCs.
    rr: u32,
    /// Cycles in which a flit waited and no VC holding one had a credit.
    pub credit_stall_cycles: u64,
    /// Virtual cut-through: a packet starts only with credits for all of it.
    cut_through: Option<CutThrough>,
}

/// What the source needs to size the next packet under virtual cut-through.
#[derive(Clone, Copy, Debug)]
struct CutThrough {
    mtu: u64,
    overhead: u64,
    flit_payload: u64,
}

impl TxPort {
    /// A port with nothing to send yet: messages come by [`TxPort::offer`]
    /// (to admit at their cycle) or [`TxPort::enqueue`] (admitted now).
    pub fn new(params: &LinkParams, cut_through: bool) -> Self {
        let vcs = params.vcs as usize;
        Self {
            plan: Vec::new(),
            next_plan: 0,
            next_at: Cycle::MAX,
            queues: vec![VecDeque::new(); vcs],
            seg: vec![Segmenter::default(); vcs],
            queued_mask: 0,
            rr: 0,
            credit_stall_cycles: 0,
            cut_through: cut_through.then_some(CutThrough {
                mtu: params.mtu_bytes as u64,
                overhead: params.packet_overhead_bytes as u64,
                flit_payload: params.flit_payload_bytes as u64,
            }),
        }
    }

    /// Moves messages whose inject cycle has come into their VC queues;
    /// returns how many.
    #[inline]
    pub fn admit(&mut self, c: Cycle) -> usize {
        if self.next_at > c {
            return 0;
        }
        let start = self.next_plan;
        while let Some(&Planned { at, vc, q }) = self.plan.get(self.next_plan) {
            if at > c {
                break;
            }
            self.queues[vc as usize].push_back(q);
            self.queued_mask |= 1 << vc;
            self.next_plan += 1;
        }
        self.next_at = self.plan.get(self.next_plan).map_or(Cycle::MAX, |p| p.at);
        self.next_plan - start
    }

    /// Admits message `o` now (its cycle has come): the network's schedule
    /// of the messages known before the run does this, in (cycle, message)
    /// order across all ports.
    #[inline]
    pub fn enqueue(&mut self, o: &Offer) {
        self.queues[o.vc as usize].push_back(o.queued());
        self.queued_mask |= 1 << o.vc;
    }

    /// Offers one more message at cycle `at` (not earlier than any cycle
    /// already simulated), after every message already offered for `at`.
    pub fn offer(&mut self, o: Offer) {
        let pos = self.next_plan
            + self.plan[self.next_plan..].partition_point(|p| (p.at, p.q.msg) <= (o.at, o.msg));
        let (at, vc, q) = (o.at, o.vc, o.queued());
        self.plan.insert(pos, Planned { at, vc, q });
        self.next_at = self.next_at.min(at);
    }

    /// The newest of the last `depth` messages of `vc` that have not sent a
    /// flit (offered or queued) for which `wanted` holds.
    pub fn find_unstarted(
        &self,
        vc: u8,
        depth: usize,
        wanted: impl Fn(MsgId) -> bool,
    ) -> Option<Unstarted> {
        let planned = self.plan[self.next_plan..]
            .iter()
            .rev()
            .filter(|p| p.vc == vc)
            .map(|p| p.q);
        let queue = &self.queues[vc as usize];
        let head_started = self.seg[vc as usize].started;
        let queued = queue
            .iter()
            .enumerate()
            .rev()
            .filter(|&(i, _)| i > 0 || !head_started)
            .map(|(_, q)| *q);
        let q = planned.chain(queued).take(depth).find(|q| wanted(q.msg))?;
        Some(Unstarted {
            msg: q.msg,
            bytes: q.bytes,
            extra: q.extra,
        })
    }

    /// Grows the unstarted message `msg` of `vc` to `bytes` and `extra` wire
    /// bytes (see [`TxPort::find_unstarted`]).
    pub fn grow(&mut self, vc: u8, msg: MsgId, bytes: u64, extra: u64) {
        let head_started = self.seg[vc as usize].started;
        let q = match self.plan[self.next_plan..]
            .iter_mut()
            .find(|p| p.vc == vc && p.q.msg == msg)
        {
            Some(p) => &mut p.q,
            None => self.queues[vc as usize]
                .iter_mut()
                .enumerate()
                .find(|(i, q)| q.msg == msg && (*i > 0 || !head_started))
                .map(|(_, q)| q)
                .expect("an unstarted message to grow"),
        };
        q.bytes = bytes;
        q.extra = extra;
    }

    /// Messages admitted and not fully sent, per VC.
    pub fn queued_messages(&self) -> Vec<u32> {
        self.queues.iter().map(|q| q.len() as u32).collect()
    }

    /// The inject cycle of the next message not yet admitted.
    #[inline]
    pub fn next_injection(&self) -> Option<Cycle> {
        (self.next_at != Cycle::MAX).then_some(self.next_at)
    }

    /// VCs that have a flit waiting and a credit to send it (`credits` are
    /// the link direction's: they count the receiver's free buffers).
    #[inline]
    pub fn sendable(&self, credits: &CreditCounters) -> u64 {
        let mask = self.queued_mask & credits.mask();
        match self.cut_through {
            None => mask,
            Some(ct) => self.cut_through_mask(mask, credits, ct),
        }
    }

    /// Under virtual cut-through, drops the VCs whose next flit would start
    /// a packet the receiver has no room for.
    fn cut_through_mask(&self, mut mask: u64, credits: &CreditCounters, ct: CutThrough) -> u64 {
        let mut m = mask;
        while m != 0 {
            let v = m.trailing_zeros() as usize;
            m &= m - 1;
            let seg = &self.seg[v];
            if seg.pkt_wire_left > 0 {
                continue; // mid-packet: its room was reserved at the head
            }
            let (left, extra) = if seg.started {
                (seg.msg_left, 0)
            } else {
                self.queues[v]
                    .front()
                    .map_or((0, 0), |q| (q.bytes, q.extra))
            };
            let flits = (left.min(ct.mtu) + ct.overhead + extra).div_ceil(ct.flit_payload);
            if (credits.get(v) as u64) < flits {
                mask &= !(1 << v);
            }
        }
        mask
    }

    /// Whether some flit waits (with or without a credit).
    #[inline]
    pub fn has_queued(&self) -> bool {
        self.queued_mask != 0
    }

    /// Picks a VC round-robin among the sendable ones, spends its credit and
    /// returns its next flit; `None` if no VC can send. A stall cycle is
    /// counted when flits wait but none has a credit.
    #[inline(always)]
    pub fn send(&mut self, params: &LinkParams, credits: &mut CreditCounters) -> Option<Sent> {
        let sendable = self.sendable(credits);
        if sendable == 0 {
            if self.queued_mask != 0 {
                self.credit_stall_cycles += 1;
            }
            return None;
        }
        let vc = pick_round_robin(sendable, self.rr);
        self.rr = if vc + 1 >= params.vcs as usize {
            0
        } else {
            vc as u32 + 1
        };
        credits.take(vc);
        Some(self.cut_flit(vc, params))
    }

    /// The next flit of the head message of `vc`: fills the flit's payload
    /// area with packet bytes; a packet's end closes the flit when packets
    /// are padded, and only the message's end does when they are packed.
    #[inline]
    fn cut_flit(&mut self, vc: usize, params: &LinkParams) -> Sent {
        let head = *self.queues[vc].front().expect("sendable VC has a message");
        let seg = &mut self.seg[vc];
        let first_of_message = !seg.started;
        let mut extra = 0;
        if first_of_message {
            seg.started = true;
            seg.msg_left = head.bytes;
            extra = head.extra;
        }
        let mut room = params.flit_payload_bytes as u64;
        let mut flags = 0;
        let mut payload_bytes = 0;
        let mut packet_flits = 0;
        loop {
            if seg.pkt_wire_left == 0 {
                let payload = seg.msg_left.min(params.mtu_bytes as u64);
                seg.msg_left -= payload;
                seg.pkt_payload = payload as u32;
                seg.pkt_wire_left =
                    payload + params.packet_overhead_bytes as u64 + std::mem::take(&mut extra);
                flags |= Flit::HEAD;
                if params.packing == Packing::Padded {
                    let flits = seg.pkt_wire_left.div_ceil(params.flit_payload_bytes as u64);
                    packet_flits = flits.min(u16::MAX as u64) as u16;
                }
            }
            let take = room.min(seg.pkt_wire_left);
            seg.pkt_wire_left -= take;
            room -= take;
            if seg.pkt_wire_left > 0 {
                break; // the flit is full mid-packet
            }
            flags |= Flit::TAIL;
            payload_bytes += seg.pkt_payload;
            if seg.msg_left == 0 {
                flags |= Flit::MSG_TAIL;
                *seg = Segmenter::default();
                self.queues[vc].pop_front();
                if self.queues[vc].is_empty() {
                    self.queued_mask &= !(1 << vc);
                }
                break;
            }
            if params.packing == Packing::Padded || room == 0 {
                break;
            }
        }
        Sent {
            flit: Flit {
                msg: head.msg,
                payload_bytes,
                dst: head.dst,
                vc: vc as u8,
                flags,
                packet_flits,
            },
            first_of_message,
        }
    }

    /// Skips `cycles` idle cycles (nothing sendable, nothing arriving):
    /// accounts them exactly as that many calls to `send` would.
    pub fn account_idle(&mut self, cycles: u64, credits: &CreditCounters) {
        debug_assert_eq!(self.sendable(credits), 0);
        if self.queued_mask != 0 {
            self.credit_stall_cycles += cycles;
        }
    }

    /// VCs whose head message waits for a credit: `(vc, messages queued)`.
    pub fn credit_starved_vcs(&self, credits: &CreditCounters) -> Vec<(usize, usize)> {
        (0..self.queues.len())
            .filter(|&v| !self.queues[v].is_empty() && credits.get(v) == 0)
            .map(|v| (v, self.queues[v].len()))
            .collect()
    }
}
