"""A small, plain Python model of the point-to-point link protocol, written from
docs/link.md and not from the Rust code: VCs and credits (coalesced returns), round-robin
VC choice, go-back-N or selective repeat with sequence numbers modulo 2^seq_bits, coalesced
ACKs with a timer, NAKs (at most one per round trip, per gap for selective repeat), a replay
timer, and scripted faults.

It covers receivers that drain as fast as flits arrive, ``retry = "go_back_n"`` or
``"selective_repeat"`` and scripted faults (no random bit errors). Used by the state-machine test to check the engine
cycle by cycle; slow by design, clear first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fabricsim.faults import Fault
from fabricsim.specs import LinkSpec


@dataclass
class _Flit:
    msg: int
    vc: int
    tail: bool  # last flit of its message
    seq: int = 0
    detected: bool = False  # errors the CRC catches


@dataclass
class _Direction:
    """One link direction: the sender's side, the wires, the receiver's side."""

    vcs: int
    credits_per_vc: int
    # sender: messages waiting per VC as [msg, flits left], credits, round-robin pointer
    queues: list[deque[list[int]]] = field(default_factory=list)
    credits: list[int] = field(default_factory=list)
    rr: int = 0
    # go-back-N sender
    next_seq: int = 0
    acked: int = 0
    buffer: list[_Flit] = field(default_factory=list)  # buffer[i] has sequence acked + i
    replay_next: int = 0  # go-back-N
    resend: list[int] = field(default_factory=list)  # selective repeat: sequences to resend
    deadline: int | None = None
    transmissions: int = 0
    # wires: (arrival cycle, item)
    wire: deque[tuple[int, _Flit]] = field(default_factory=deque)
    ctrl_wire: deque[tuple[int, tuple[bool, int]]] = field(default_factory=deque)  # (nak, seq)
    credit_wire: deque[tuple[int, int]] = field(default_factory=deque)  # vc
    # receiver
    expected: int = 0
    last_nak: int | None = None
    unacked: int = 0
    unacked_since: int = 0
    ack_now: bool = False
    pending_credits: list[int] = field(default_factory=list)
    held: dict[int, _Flit] = field(default_factory=dict)  # selective repeat: sequence -> flit
    gap_naked: dict[int, int] = field(default_factory=dict)  # selective repeat: gap -> last NAK
    # scripted faults
    corrupt: set[int] = field(default_factory=set)
    drop_ack: list[int] = field(default_factory=list)  # cycles, ascending
    drop_credit: list[int] = field(default_factory=list)
    down: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queues = [deque() for _ in range(self.vcs)]
        self.credits = [self.credits_per_vc] * self.vcs
        self.pending_credits = [0] * self.vcs


class ReferenceLink:
    """Two endpoints (0, 1) and one link, stepped one cycle at a time."""

    def __init__(self, link: LinkSpec) -> None:
        if link.retry == "none" or link.ber != 0 or link.burst is not None:
            raise ValueError("the reference model covers links with retry and without random errors")
        self.selective = link.retry == "selective_repeat"
        r = link.resolved()
        self.link = link
        self.cycle_ps = (int(r["cycle_ps_num"]), int(r["cycle_ps_den"]))
        self.latency = int(r["latency_cycles"])
        self.ret = int(r["credit_return_cycles"])
        self.modulus = 2 ** int(r["seq_bits"])
        self.capacity = int(r["replay_buffer_flits"])
        self.timeout = int(r["replay_timeout_cycles"])
        self.ack_timer = int(r["ack_timer_cycles"])
        self.renak_after = int(r["credit_round_trip_cycles"])
        self.cycle = 0
        self.dirs = [_Direction(link.vcs, link.credits_per_vc) for _ in range(2)]
        self.plan: list[list[tuple[int, int, int, int]]] = [[], []]  # per source: (cycle, msg, bytes, vc)
        self.delivered: dict[int, int] = {}  # msg -> cycle
        self.messages = 0

    # -- inputs -------------------------------------------------------------------------

    def inject(self, src: int, nbytes: int, vc: int) -> int:
        """Offers a message now; returns its id."""
        msg = self.messages
        self.messages += 1
        self.plan[src].append((self.cycle, msg, nbytes, vc))
        return msg

    def inject_fault(self, fault: Fault) -> None:
        d = self.dirs[fault.link]
        num, den = self.cycle_ps

        def at(ns: float) -> int:  # first cycle starting at or after ns
            return -(-round(ns * 1000) * den // num)

        if fault.type == "corrupt_flit":
            assert fault.flit is not None
            d.corrupt.add(fault.flit)
        elif fault.type == "drop_ack":
            assert fault.at_ns is not None
            d.drop_ack = sorted([*d.drop_ack, at(fault.at_ns)])
        elif fault.type == "drop_credit":
            assert fault.at_ns is not None
            d.drop_credit = sorted([*d.drop_credit, at(fault.at_ns)])
        else:
            assert fault.at_ns is not None and fault.duration_ns is not None
            d.down.append((at(fault.at_ns), at(fault.at_ns + fault.duration_ns)))

    # -- one cycle ----------------------------------------------------------------------

    def step(self, cycles: int = 1) -> None:
        for _ in range(cycles):
            c = self.cycle
            for d in self.dirs:
                self._inputs(d, c)
            for src in (0, 1):
                self._outputs(src, self.dirs[src], c)
            self.cycle += 1

    def _inputs(self, d: _Direction, c: int) -> None:
        ctrls: list[tuple[bool, int]] = []  # (nak, seq) sent back this cycle, in order
        while d.wire and d.wire[0][0] <= c:
            flit = d.wire.popleft()[1]
            ahead = (flit.seq - d.expected) % self.modulus
            if flit.detected:
                self._nak_first_gap(d, c, ctrls)
            elif ahead == 0:
                self._accept(d, flit, c)
                while d.expected in d.held:  # selective repeat: flits held past the gap
                    self._accept(d, d.held.pop(d.expected), c)
            elif self.selective and ahead < self.capacity:
                d.held.setdefault(d.expected + ahead, flit)  # keep it, ask for every gap before it
                for seq in range(d.expected, d.expected + ahead):
                    if seq not in d.held:
                        self._nak_gap(d, seq, c, ctrls)
            elif (d.expected - flit.seq) % self.modulus <= (self.modulus - 1 + 1) // 2:
                d.ack_now = True  # a duplicate: acknowledge so the sender moves on
            else:
                self._nak_first_gap(d, c, ctrls)  # something before it was lost
        if not ctrls or self.selective:  # a go-back-N NAK acknowledges too
            due = d.ack_now or (
                d.unacked > 0
                and (d.unacked >= self.link.ack_coalesce_flits or c >= d.unacked_since + self.ack_timer)
            )
            if due:
                d.ack_now, d.unacked = False, 0
                ctrls.append((False, (d.expected - 1) % self.modulus))
        for ctrl in ctrls:
            if d.drop_ack and d.drop_ack[0] <= c:
                d.drop_ack.pop(0)
            else:
                d.ctrl_wire.append((c + self.ret, ctrl))
        while d.ctrl_wire and d.ctrl_wire[0][0] <= c:
            self._on_ctrl(d, *d.ctrl_wire.popleft()[1], c)
        while d.credit_wire and d.credit_wire[0][0] <= c:
            d.credits[d.credit_wire.popleft()[1]] += 1

    def _nak_first_gap(self, d: _Direction, c: int, ctrls: list[tuple[bool, int]]) -> None:
        if self.selective:
            self._nak_gap(d, d.expected, c, ctrls)
        else:
            nak = self._nak(d, c)
            if nak is not None:
                ctrls.append(nak)

    def _nak_gap(self, d: _Direction, seq: int, c: int, ctrls: list[tuple[bool, int]]) -> None:
        """Selective repeat: NAK the missing flit `seq`, at most once per round trip."""
        last = d.gap_naked.get(seq)
        if last is None or c >= last + self.renak_after:
            d.gap_naked[seq] = c
            ctrls.append((True, seq % self.modulus))

    def _accept(self, d: _Direction, flit: _Flit, c: int) -> None:
        d.gap_naked.pop(d.expected, None)
        d.expected += 1
        d.last_nak = None
        if d.unacked == 0:
            d.unacked_since = c
        d.unacked += 1
        self._consume(d, flit, c)

    def _nak(self, d: _Direction, c: int) -> tuple[bool, int] | None:
        if d.last_nak is not None and c < d.last_nak + self.renak_after:
            return None  # the sender cannot have seen the last NAK yet
        d.last_nak = c
        d.unacked, d.ack_now = 0, False
        return (True, (d.expected - 1) % self.modulus)

    def _consume(self, d: _Direction, flit: _Flit, c: int) -> None:
        d.pending_credits[flit.vc] += 1
        if d.pending_credits[flit.vc] >= self.link.credit_coalesce_flits:
            n, d.pending_credits[flit.vc] = d.pending_credits[flit.vc], 0
            if d.drop_credit and d.drop_credit[0] <= c:
                d.drop_credit.pop(0)
            else:
                d.credit_wire.extend((c + self.ret, flit.vc) for _ in range(n))
        if flit.tail:
            assert flit.msg not in self.delivered, f"message {flit.msg} delivered twice"
            self.delivered[flit.msg] = c

    def _on_ctrl(self, d: _Direction, nak: bool, seq: int, c: int) -> None:
        if nak and self.selective:  # resend just the flit named
            missing = d.acked + (seq - d.acked) % self.modulus
            if missing < d.next_seq:
                if missing not in d.resend:
                    d.resend.append(missing)
                d.deadline = c + self.timeout
            return
        freed = (seq + 1 - d.acked) % self.modulus
        if freed > d.next_seq - d.acked:
            return  # names a sequence number outside the window: stale
        d.acked += freed
        del d.buffer[:freed]
        d.replay_next = max(d.replay_next, d.acked)
        d.resend = [q for q in d.resend if q >= d.acked]
        if nak:
            d.replay_next = d.acked
        if d.acked == d.next_seq:
            d.deadline = None
        elif freed > 0 or nak:
            d.deadline = c + self.timeout

    def _outputs(self, src: int, d: _Direction, c: int) -> None:
        plan = self.plan[src]
        while plan and plan[0][0] <= c:  # offered in (cycle, id) order: appended in that order
            _, msg, nbytes, vc = plan.pop(0)
            d.queues[vc].append([msg, self.link.message_flits(nbytes)])
        if d.deadline is not None and c >= d.deadline:
            d.replay_next = d.acked
            self._resend_oldest(d)
            d.deadline = c + self.timeout
        if self.selective and d.resend:
            flit = d.buffer[d.resend.pop(0) - d.acked]
        elif not self.selective and d.replay_next < d.next_seq:
            flit = d.buffer[d.replay_next - d.acked]
            d.replay_next += 1
        elif d.next_seq - d.acked >= self.capacity:
            return  # replay buffer full
        else:
            ready = [v for v in range(d.vcs) if d.queues[v] and d.credits[v] > 0]
            if not ready:
                return
            vc = min(ready, key=lambda v: (v - d.rr) % d.vcs)  # round robin from d.rr
            d.rr = (vc + 1) % d.vcs
            d.credits[vc] -= 1
            head = d.queues[vc][0]
            head[1] -= 1
            tail = head[1] == 0
            if tail:
                d.queues[vc].popleft()
            flit = _Flit(head[0], vc, tail, seq=d.next_seq % self.modulus)
            d.buffer.append(flit)
            d.next_seq += 1
            d.replay_next = d.next_seq
            if d.deadline is None:
                d.deadline = c + self.timeout
        n = d.transmissions
        d.transmissions += 1
        sent = _Flit(flit.msg, flit.vc, flit.tail, flit.seq, detected=n in d.corrupt)
        if any(a <= c < b for a, b in d.down):
            return  # vanished
        d.wire.append((c + 1 + self.latency, sent))

    def _resend_oldest(self, d: _Direction) -> None:
        """Selective repeat: queue the oldest unacknowledged flit (once)."""
        if self.selective and d.acked < d.next_seq and d.acked not in d.resend:
            d.resend.append(d.acked)

    # -- what the engine's state() reports ----------------------------------------------

    def state(self) -> list[dict[str, Any]]:
        out = []
        for i, d in enumerate(self.dirs):
            returning = [
                sum(1 for _, v in d.credit_wire if v == vc) + d.pending_credits[vc] for vc in range(d.vcs)
            ]
            out.append(
                {
                    "src": i,
                    "dst": 1 - i,
                    "credits": list(d.credits),
                    "queued_messages": [len(q) for q in d.queues],
                    "flits_on_wire": len(d.wire),
                    "buffered": [0] * d.vcs,
                    "credits_returning": returning,
                    "acks_in_flight": len(d.ctrl_wire),
                    "next_seq": d.next_seq,
                    "acked_seq": d.acked,
                    "replaying": bool(d.resend) if self.selective else d.replay_next < d.next_seq,
                    "expected_seq": d.expected,
                    "transmissions": d.transmissions,
                }
            )
        return out


__all__ = ["ReferenceLink"]
