//! Link-level retry: the sender's replay buffer and the receiver's sequence
//! check, as two small state machines (cf. the PCIe data link layer:
//! NEXT_TRANSMIT_SEQ, ACKD_SEQ, REPLAY_TIMER; NEXT_RCV_SEQ, NAK_SCHEDULED).
//!
//! Go-back-N: the receiver takes flits only in order, and a NAK or a timeout
//! makes the sender resend everything unacknowledged. Selective repeat: the
//! receiver keeps good flits that arrive ahead of a gap (up to the window)
//! and releases them in order once the gap is filled; a NAK names the missing
//! flit and the sender resends only it (a timeout: only the oldest).
//!
//! Both ends keep full 64-bit counters for bookkeeping but only ever compare
//! sequence numbers modulo `2^seq_bits`, exactly as they travel on the wire,
//! so a sequence space too small for the replay window misbehaves here as it
//! would in hardware.

use crate::link::{Flit, WireFlit};
use crate::time::Cycle;
use std::collections::VecDeque;

/// An acknowledgement travelling back from receiver to sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ctrl {
    /// NAK rather than ACK.
    pub nak: bool,
    /// Modulo `2^seq_bits`: for an ACK and a go-back-N NAK, the last
    /// sequence number received in order; for a selective-repeat NAK, the
    /// missing flit.
    pub seq: u32,
}

#[derive(Clone, Debug)]
pub struct ReplaySender {
    /// `2^seq_bits - 1`: sequence numbers wrap by masking (no division on the
    /// per-flit path).
    mask: u64,
    capacity: u64,
    timeout: u64,
    /// Full sequence number of the next new flit.
    next_seq: u64,
    /// Full sequence number of the oldest unacknowledged flit.
    acked: u64,
    /// Unacknowledged flits: `buffer[i]` has sequence `acked + i`.
    buffer: VecDeque<Flit>,
    /// Go-back-N: next flit to retransmit; equals `next_seq` when not replaying.
    replay_next: u64,
    /// Selective repeat: flits to retransmit, in order of request.
    selective: bool,
    resend: VecDeque<u64>,
    /// When the replay timer fires (running while anything is unacknowledged).
    deadline: Option<Cycle>,
    pub replay_timeouts: u64,
    pub naks_received: u64,
}

/// What an acknowledgement did at the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckEffect {
    /// Freed this many flits (possibly 0: a duplicate ACK).
    Freed(u64),
    /// Named a sequence number outside the unacknowledged window: ignored.
    Stale,
}

impl ReplaySender {
    pub fn new(modulus: u64, capacity: u64, timeout: u64, selective: bool) -> Self {
        debug_assert!(modulus.is_power_of_two());
        Self {
            selective,
            resend: VecDeque::new(),
            mask: modulus - 1,
            capacity,
            timeout,
            next_seq: 0,
            acked: 0,
            buffer: VecDeque::new(),
            replay_next: 0,
            deadline: None,
            replay_timeouts: 0,
            naks_received: 0,
        }
    }

    /// A new flit may be sent (the replay buffer has room).
    #[inline]
    pub fn has_room(&self) -> bool {
        self.next_seq - self.acked < self.capacity
    }

    #[inline]
    pub fn replaying(&self) -> bool {
        if self.selective {
            !self.resend.is_empty()
        } else {
            self.replay_next < self.next_seq
        }
    }

    /// Selective repeat: queues flit `seq` for retransmission (once).
    fn schedule(&mut self, seq: u64) {
        if seq < self.next_seq && !self.resend.contains(&seq) {
            self.resend.push_back(seq);
        }
    }

    /// Records a new flit; returns it with its wire sequence number.
    #[inline]
    pub fn record_new(&mut self, flit: Flit, c: Cycle) -> WireFlit {
        let seq = (self.next_seq & self.mask) as u32;
        self.buffer.push_back(flit);
        self.next_seq += 1;
        self.replay_next = self.next_seq;
        if self.deadline.is_none() {
            self.deadline = Some(c + self.timeout);
        }
        WireFlit { flit, seq }
    }

    /// The next flit to retransmit (call only while `replaying()`).
    #[inline]
    pub fn next_replay(&mut self) -> WireFlit {
        let seq = if self.selective {
            self.resend.pop_front().expect("replaying")
        } else {
            self.replay_next += 1;
            self.replay_next - 1
        };
        WireFlit {
            flit: self.buffer[(seq - self.acked) as usize],
            seq: (seq & self.mask) as u32,
        }
    }

    /// Fires the replay timer if it is due: everything unacknowledged is sent
    /// again. Returns whether it fired.
    #[inline]
    pub fn check_timeout(&mut self, c: Cycle) -> bool {
        match self.deadline {
            Some(d) if c >= d => {
                if self.selective {
                    self.schedule(self.acked);
                } else {
                    self.replay_next = self.acked;
                }
                self.deadline = Some(c + self.timeout);
                self.replay_timeouts += 1;
                true
            }
            _ => false,
        }
    }

    /// Applies an ACK or NAK received at cycle `c`.
    pub fn on_ctrl(&mut self, ctrl: Ctrl, c: Cycle) -> AckEffect {
        if ctrl.nak && self.selective {
            // Resend just the flit named, if it is still unacknowledged.
            self.naks_received += 1;
            let seq = self.acked + ((ctrl.seq as u64).wrapping_sub(self.acked) & self.mask);
            if seq >= self.next_seq {
                return AckEffect::Stale;
            }
            self.schedule(seq);
            self.deadline = Some(c + self.timeout);
            return AckEffect::Freed(0);
        }
        // Flits acknowledged: `seq` is the last good one, so `seq + 1 - acked`
        // (mod 2^bits) of the window are freed, if that is inside the window.
        let freed = (ctrl.seq as u64 + 1).wrapping_sub(self.acked) & self.mask;
        if freed > self.next_seq - self.acked {
            return AckEffect::Stale;
        }
        self.acked += freed;
        self.buffer.drain(..freed as usize);
        if self.replay_next < self.acked {
            self.replay_next = self.acked;
        }
        if self.selective {
            let acked = self.acked;
            self.resend.retain(|&s| s >= acked);
        }
        if ctrl.nak {
            self.naks_received += 1;
            if self.selective {
                self.schedule(self.acked);
            } else {
                self.replay_next = self.acked;
            }
        }
        self.deadline = if self.acked == self.next_seq {
            None
        } else if freed > 0 || ctrl.nak {
            Some(c + self.timeout)
        } else {
            self.deadline
        };
        AckEffect::Freed(freed)
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn acked(&self) -> u64 {
        self.acked
    }

    pub fn deadline(&self) -> Option<Cycle> {
        self.deadline
    }

    pub fn unacked(&self) -> u64 {
        self.next_seq - self.acked
    }

    /// Unacknowledged flits with full sequence number `>= from`.
    pub fn unacked_from(&self, from: u64) -> impl Iterator<Item = &Flit> {
        let skip = from.saturating_sub(self.acked) as usize;
        self.buffer.iter().skip(skip)
    }
}

/// One place of the selective-repeat window.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// Missing; when it was last NAKed.
    Gap(Option<Cycle>),
    Held(Flit),
}

/// What the receiver does with an arriving flit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

#[derive(Clone, Debug)]
pub struct SeqReceiver {
    /// `2^seq_bits - 1`.
    mask: u64,
    coalesce: u32,
    ack_timer: u64,
    /// Cycles after a NAK before a corrupt flit must be a replayed one: a
    /// new NAK is sent only then (earlier ones are the discarded window).
    renak_after: u64,
    /// Full sequence number expected next.
    pub expected: u64,
    /// Selective repeat: the window ahead of `expected`; `reorder[i]` is
    /// sequence `expected + i` (so `reorder[0]` is always a gap).
    selective: bool,
    window: u64,
    reorder: VecDeque<Slot>,
    last_nak: Option<Cycle>,
    /// Good flits accepted since the last ACK, and when the first arrived.
    unacked: u32,
    unacked_since: Cycle,
    /// A duplicate arrived: acknowledge at the end of the cycle.
    ack_now: bool,
    pub naks_sent: u64,
    pub acks_sent: u64,
}

impl SeqReceiver {
    pub fn new(
        modulus: u64,
        coalesce: u32,
        ack_timer: u64,
        round_trip: u64,
        window: Option<u64>,
    ) -> Self {
        debug_assert!(modulus.is_power_of_two());
        Self {
            selective: window.is_some(),
            window: window.unwrap_or(0),
            reorder: VecDeque::new(),
            mask: modulus - 1,
            coalesce,
            ack_timer,
            renak_after: round_trip,
            expected: 0,
            last_nak: None,
            unacked: 0,
            unacked_since: 0,
            ack_now: false,
            naks_sent: 0,
            acks_sent: 0,
        }
    }

    /// Judges an arriving flit; NAKs to send go to `out`. After an
    /// `Accept`, [`SeqReceiver::next_released`] yields flits held ahead of
    /// the gap it filled (selective repeat).
    #[inline]
    pub fn on_flit(
        &mut self,
        w: &WireFlit,
        detected_error: bool,
        c: Cycle,
        out: &mut Vec<Ctrl>,
    ) -> Verdict {
        if detected_error {
            if self.selective {
                self.nak_gaps(1, c, out); // the first gap, at least, is missing
            } else {
                self.nak(c, out);
            }
            return Verdict::Drop;
        }
        let ahead = (w.seq as u64).wrapping_sub(self.expected) & self.mask;
        if ahead == 0 {
            self.accept_one(c);
            self.reorder.pop_front();
            return Verdict::Accept;
        }
        if self.selective && ahead < self.window {
            // A good flit beyond a gap: keep it, and ask for every gap before it.
            let i = ahead as usize;
            if self.reorder.len() <= i {
                self.reorder.resize(i + 1, Slot::Gap(None));
            }
            if let Slot::Gap(_) = self.reorder[i] {
                self.reorder[i] = Slot::Held(w.flit);
            }
            self.nak_gaps(i, c, out);
            return Verdict::Drop;
        }
        // Behind (a duplicate from a replay) or ahead (something was lost).
        let behind = self.expected.wrapping_sub(w.seq as u64) & self.mask;
        if behind <= self.mask.div_ceil(2) {
            self.ack_now = true;
        } else if self.selective {
            self.nak_gaps(1, c, out);
        } else {
            self.nak(c, out);
        }
        Verdict::Drop
    }

    /// Selective repeat: NAKs each gap among the first `n` places of the
    /// window that was not NAKed within the last round trip.
    fn nak_gaps(&mut self, n: usize, c: Cycle, out: &mut Vec<Ctrl>) {
        if self.reorder.is_empty() {
            self.reorder.push_back(Slot::Gap(None));
        }
        for (i, slot) in self.reorder.iter_mut().take(n).enumerate() {
            if let Slot::Gap(last) = slot {
                if last.is_none_or(|t| c >= t + self.renak_after) {
                    *last = Some(c);
                    self.naks_sent += 1;
                    out.push(Ctrl {
                        nak: true,
                        seq: ((self.expected + i as u64) & self.mask) as u32,
                    });
                }
            }
        }
    }

    /// The next flit held ahead of a gap that is now in order, if any.
    #[inline]
    pub fn next_released(&mut self, c: Cycle) -> Option<Flit> {
        let Some(&Slot::Held(flit)) = self.reorder.front() else {
            return None;
        };
        self.reorder.pop_front();
        self.accept_one(c);
        Some(flit)
    }

    /// Selective repeat sends ACKs whatever NAKs go out (its NAKs do not
    /// acknowledge); go-back-N NAKs acknowledge, so no ACK goes with them.
    pub fn is_selective(&self) -> bool {
        self.selective
    }

    fn accept_one(&mut self, c: Cycle) {
        self.expected += 1;
        self.last_nak = None;
        if self.unacked == 0 {
            self.unacked_since = c;
        }
        self.unacked += 1;
    }

    /// Go-back-N: NAK naming the last flit received in order (which also
    /// acknowledges everything before it), at most once per round trip.
    fn nak(&mut self, c: Cycle, out: &mut Vec<Ctrl>) {
        if self.last_nak.is_some_and(|n| c < n + self.renak_after) {
            return;
        }
        self.last_nak = Some(c);
        self.naks_sent += 1;
        self.unacked = 0;
        self.ack_now = false;
        out.push(Ctrl {
            nak: true,
            seq: self.last_good(),
        });
    }

    fn last_good(&self) -> u32 {
        (self.expected.wrapping_sub(1) & self.mask) as u32
    }

    /// An ACK due at the end of cycle `c` (batch full, timer expired, or a
    /// duplicate to answer), if no NAK went out this cycle.
    #[inline]
    pub fn ack_due(&mut self, c: Cycle) -> Option<Ctrl> {
        if !self.ack_pending_at(c) {
            return None;
        }
        self.ack_now = false;
        self.unacked = 0;
        self.acks_sent += 1;
        Some(Ctrl {
            nak: false,
            seq: self.last_good(),
        })
    }

    /// Whether an ACK would be due at cycle `c` (without sending it).
    #[inline]
    pub fn ack_pending_at(&self, c: Cycle) -> bool {
        self.ack_now
            || (self.unacked > 0
                && (self.unacked >= self.coalesce || c >= self.unacked_since + self.ack_timer))
    }

    /// When the ACK timer fires next, if a batch is pending.
    pub fn ack_deadline(&self) -> Option<Cycle> {
        (self.unacked > 0).then(|| self.unacked_since + self.ack_timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MsgId;

    fn flit(i: u32) -> Flit {
        Flit {
            msg: MsgId(i),
            ..Flit::default()
        }
    }

    /// Flit `i` on the wire with sequence number `seq`.
    fn wire(i: u32, seq: u32) -> WireFlit {
        WireFlit { flit: flit(i), seq }
    }

    #[test]
    fn acks_free_the_replay_buffer_and_naks_rewind_it() {
        let mut s = ReplaySender::new(16, 4, 100, false);
        for i in 0..4 {
            let w = s.record_new(flit(i), 0);
            assert_eq!((w.flit.msg, w.seq), (MsgId(i), i));
        }
        assert!(!s.has_room());
        assert_eq!(
            s.on_ctrl(Ctrl { nak: false, seq: 1 }, 5),
            AckEffect::Freed(2)
        );
        assert!(s.has_room() && !s.replaying());
        assert_eq!(
            s.on_ctrl(Ctrl { nak: true, seq: 1 }, 6),
            AckEffect::Freed(0)
        );
        assert!(s.replaying());
        assert_eq!(s.next_replay(), wire(2, 2)); // with its sequence number
        assert_eq!(s.next_replay(), wire(3, 3));
        assert!(!s.replaying());
        // A sequence number outside the window is ignored.
        assert_eq!(s.on_ctrl(Ctrl { nak: false, seq: 9 }, 7), AckEffect::Stale);
        assert_eq!(
            s.on_ctrl(Ctrl { nak: false, seq: 3 }, 8),
            AckEffect::Freed(2)
        );
        assert_eq!((s.unacked(), s.deadline()), (0, None));
    }

    #[test]
    fn a_replay_resends_each_flit_with_its_first_sequence_number_past_a_wrap() {
        let mut s = ReplaySender::new(4, 3, 100, false);
        let first: Vec<u32> = (0..3).map(|i| s.record_new(flit(i), 0).seq).collect();
        assert_eq!(first, [0, 1, 2]);
        assert_eq!(
            s.on_ctrl(Ctrl { nak: false, seq: 1 }, 1),
            AckEffect::Freed(2)
        );
        let next: Vec<u32> = (3..5).map(|i| s.record_new(flit(i), 2).seq).collect();
        assert_eq!(next, [3, 0], "modulo 4");
        // Go-back-N NAK naming seq 2 as the last good one: 3 and 4 again.
        assert_eq!(
            s.on_ctrl(Ctrl { nak: true, seq: 2 }, 3),
            AckEffect::Freed(1)
        );
        assert_eq!((s.next_replay(), s.next_replay()), (wire(3, 3), wire(4, 0)));
        assert!(!s.replaying());
    }

    #[test]
    fn the_timer_replays_everything_unacknowledged() {
        let mut s = ReplaySender::new(16, 8, 10, false);
        s.record_new(flit(0), 3);
        s.record_new(flit(1), 4);
        assert!(!s.check_timeout(12));
        assert!(s.check_timeout(13));
        assert_eq!(
            (s.next_replay().flit.msg, s.next_replay().flit.msg),
            (MsgId(0), MsgId(1))
        );
        assert_eq!(s.deadline(), Some(23));
        assert_eq!(s.replay_timeouts, 1);
    }

    #[test]
    fn receiver_accepts_in_order_naks_once_per_round_trip_and_acks_duplicates() {
        let mut r = SeqReceiver::new(8, 2, 100, 10, None);
        let mut out = Vec::new();
        let mut f = wire(0, 0);
        assert_eq!(r.on_flit(&f, false, 0, &mut out), Verdict::Accept);
        assert_eq!(r.ack_due(0), None);
        f.seq = 1;
        assert_eq!(r.on_flit(&f, false, 1, &mut out), Verdict::Accept);
        assert_eq!(r.ack_due(1), Some(Ctrl { nak: false, seq: 1 }));
        // a corrupt flit: NAK naming the last good one; more within a round trip: silence
        assert_eq!(r.on_flit(&f, true, 2, &mut out), Verdict::Drop);
        assert_eq!(out.pop(), Some(Ctrl { nak: true, seq: 1 }));
        assert_eq!(r.on_flit(&f, true, 5, &mut out), Verdict::Drop);
        assert!(out.is_empty());
        assert_eq!(r.on_flit(&f, true, 12, &mut out), Verdict::Drop);
        assert_eq!(out.pop(), Some(Ctrl { nak: true, seq: 1 }));
        // a duplicate (seq 1 again): dropped, answered by an ACK
        assert_eq!(r.on_flit(&f, false, 13, &mut out), Verdict::Drop);
        assert_eq!(r.ack_due(13), Some(Ctrl { nak: false, seq: 1 }));
        // a flit from ahead (seq 5, expected 2): lost something, NAK after the round trip
        f.seq = 5;
        assert_eq!(r.on_flit(&f, false, 30, &mut out), Verdict::Drop);
        assert_eq!(out.pop(), Some(Ctrl { nak: true, seq: 1 }));
        assert_eq!((r.naks_sent, r.acks_sent), (3, 2));
    }

    #[test]
    fn selective_repeat_holds_flits_past_a_gap_and_resends_only_the_missing_one() {
        let mut s = ReplaySender::new(16, 8, 100, true);
        let mut r = SeqReceiver::new(16, 8, 100, 10, Some(8));
        let sent: Vec<WireFlit> = (0..4).map(|i| s.record_new(flit(i), 0)).collect();
        let mut out = Vec::new();
        assert_eq!(r.on_flit(&sent[0], false, 1, &mut out), Verdict::Accept);
        assert_eq!(r.on_flit(&sent[1], true, 2, &mut out), Verdict::Drop); // corrupt
        let nak = out.pop().unwrap();
        assert_eq!(nak, Ctrl { nak: true, seq: 1 }); // names the missing flit
        assert_eq!(r.on_flit(&sent[2], false, 3, &mut out), Verdict::Drop); // held
        assert_eq!(r.on_flit(&sent[3], false, 4, &mut out), Verdict::Drop); // held
        assert!(out.is_empty()); // the gap was NAKed less than a round trip ago
        assert_eq!(r.next_released(4), None);
        s.on_ctrl(nak, 5);
        assert!(s.replaying());
        assert_eq!(s.next_replay(), wire(1, 1)); // only the missing one
        assert!(!s.replaying());
        assert_eq!(r.on_flit(&sent[1], false, 6, &mut out), Verdict::Accept);
        assert_eq!(r.next_released(6).map(|f| f.msg), Some(MsgId(2)));
        assert_eq!(r.next_released(6).map(|f| f.msg), Some(MsgId(3)));
        assert_eq!(r.next_released(6), None);
        assert_eq!(r.expected, 4);
    }

    #[test]
    fn the_ack_timer_flushes_a_partial_batch() {
        let mut r = SeqReceiver::new(16, 8, 5, 10, None);
        let mut out = Vec::new();
        r.on_flit(&wire(0, 0), false, 10, &mut out);
        assert_eq!(r.ack_deadline(), Some(15));
        assert_eq!(r.ack_due(14), None);
        assert_eq!(r.ack_due(15), Some(Ctrl { nak: false, seq: 0 }));
        assert_eq!(r.ack_deadline(), None);
    }
}
