"""An independent DRAM timing checker: replays a command trace and reports every violated
JEDEC constraint. Written from the constraint table alone (docs/hbm.md), sharing nothing
with any scheduler, so that a model's bookkeeping and its checker cannot be wrong together.

A trace is a sequence of commands, each ``(cycle, channel, pseudo_channel, sid, bank_group,
bank, command, row)``, cycles in CK; commands are ``ACT``, ``PRE``, ``RD``, ``WR``,
``REFab`` and ``REFsb``. Build one with :func:`command_trace`.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fabricsim.memory.stack import COMMAND_DTYPE, COMMANDS
from fabricsim.specs import HbmSpec

ROW_COMMANDS = {"ACT", "PRE", "REFab", "REFsb"}


def command_trace(rows: list[tuple[Any, ...]]) -> npt.NDArray[Any]:
    """A trace from ``(cycle, channel, pseudo_channel, sid, bank_group, bank, command, row)``
    tuples, ``command`` given by name."""
    out = np.zeros(len(rows), dtype=COMMAND_DTYPE)
    for i, (cycle, ch, pc, sid, bg, bank, cmd, row) in enumerate(rows):
        out[i] = (cycle, ch, pc, sid, bg, bank, COMMANDS.index(cmd), row)
    return out


@dataclass(frozen=True)
class Violation:
    index: int
    """Row of the trace that broke the rule."""
    cycle: int
    command: str
    rule: str
    """The constraint (``tRCD``, ``tFAW``, ...) or state rule (``bank open``, ...)."""
    earliest: int
    """The first cycle at which the command would have been legal (-1 for state rules)."""

    def __str__(self) -> str:
        when = f", earliest legal cycle {self.earliest}" if self.earliest >= 0 else ""
        return f"trace[{self.index}] {self.command} at cycle {self.cycle}: {self.rule}{when}"


_NEVER = -(10**18)


@dataclass
class _Bank:
    open_row: int | None = None
    act: int = _NEVER
    pre: int = _NEVER
    rd: int = _NEVER
    wr: int = _NEVER
    refsb: int = _NEVER


@dataclass
class _PseudoChannel:
    banks: dict[tuple[int, int, int], _Bank] = field(default_factory=lambda: defaultdict(_Bank))
    acts: deque[int] = field(default_factory=lambda: deque(maxlen=4))
    act_by_group: dict[tuple[int, int], int] = field(default_factory=dict)
    rd_by_group: dict[tuple[int, int], int] = field(default_factory=dict)
    wr_by_group: dict[tuple[int, int], int] = field(default_factory=dict)
    refab: int = _NEVER
    data_busy_until: int = _NEVER


def check_dram_timing(commands: npt.NDArray[Any], hbm: HbmSpec) -> list[Violation]:
    """Every violation in ``commands`` (in trace order) of ``hbm``'s timing table; ``[]`` when
    the trace is clean. Commands must be sorted by cycle."""
    t = hbm.timing
    pcs: dict[tuple[int, int], _PseudoChannel] = defaultdict(_PseudoChannel)
    bus: dict[tuple[int, int, bool], int] = {}  # (channel, cycle, row bus?) -> trace index
    out: list[Violation] = []
    last_cycle = _NEVER
    for i, c in enumerate(commands):
        cyc, cmd = int(c["cycle"]), COMMANDS[int(c["command"])]
        bad: list[tuple[str, int]] = []  # (rule, earliest)

        def need(rule: str, earliest: int, *, cyc: int = cyc, bad: list[tuple[str, int]] = bad) -> None:
            if cyc < earliest:
                bad.append((rule, earliest))

        if cyc < last_cycle:
            bad.append(("trace out of cycle order", -1))
        last_cycle = max(last_cycle, cyc)
        ch = int(c["channel"])
        pc = pcs[(ch, int(c["pseudo_channel"]))]
        group = (int(c["sid"]), int(c["bank_group"]))
        key = (*group, int(c["bank"]))
        bank = pc.banks[key]
        # Command buses, shared by the pseudo-channels of a channel: one row and one
        # column command per cycle.
        slot = (ch, cyc, cmd in ROW_COMMANDS)
        if slot in bus:
            bad.append(
                (f"{'row' if slot[2] else 'column'} command bus already used by trace[{bus[slot]}]", -1)
            )
        bus[slot] = i
        if cmd == "ACT":
            if bank.open_row is not None:
                bad.append(("bank open (ACT needs a closed bank)", -1))
            need("tRC", bank.act + t["rc"])
            need("tRP", bank.pre + t["rp"])
            need("tRFC", pc.refab + t["rfc"])
            need("tRFCsb", bank.refsb + t["rfc_sb"])
            for g, at in pc.act_by_group.items():
                need("tRRD_L" if g == group else "tRRD_S", at + (t["rrd_l"] if g == group else t["rrd_s"]))
            if len(pc.acts) == 4:
                need("tFAW", pc.acts[0] + t["faw"])
            bank.open_row, bank.act = int(c["row"]), cyc
            pc.acts.append(cyc)
            pc.act_by_group[group] = cyc
        elif cmd in ("RD", "WR"):
            if bank.open_row is None:
                bad.append(("bank closed (RD/WR needs an open row)", -1))
            elif bank.open_row != int(c["row"]):
                bad.append((f"row {int(c['row'])} is not the open row {bank.open_row}", -1))
            reading = cmd == "RD"
            need("tRCD_RD" if reading else "tRCD_WR", bank.act + (t["rcd_rd"] if reading else t["rcd_wr"]))
            same = pc.rd_by_group if reading else pc.wr_by_group
            for g, at in same.items():
                need("tCCD_L" if g == group else "tCCD_S", at + (t["ccd_l"] if g == group else t["ccd_s"]))
            if reading:  # after writes: their data, then tWTR
                for g, at in pc.wr_by_group.items():
                    wtr = t["wtr_l"] if g == group else t["wtr_s"]
                    need("tWTR_L" if g == group else "tWTR_S", at + t["cwl"] + t["bl"] + wtr)
            else:  # after reads: the turnaround
                for at in pc.rd_by_group.values():
                    need("tRTW", at + t["rtw"])
            start = cyc + (t["cl"] if reading else t["cwl"])
            if start < pc.data_busy_until:
                bad.append(("data bus busy with an earlier burst", -1))
            pc.data_busy_until = max(pc.data_busy_until, start + t["bl"])
            same[group] = cyc
            if reading:
                bank.rd = cyc
            else:
                bank.wr = cyc
        elif cmd == "PRE":
            need("tRAS", bank.act + t["ras"])
            need("tRTP", bank.rd + t["rtp"])
            need("tWR", bank.wr + t["cwl"] + t["bl"] + t["wr"])
            bank.open_row, bank.pre = None, cyc
        elif cmd == "REFab":
            if any(b.open_row is not None for b in pc.banks.values()):
                bad.append(("bank open (REFab needs every bank closed)", -1))
            for b in pc.banks.values():
                need("tRP", b.pre + t["rp"])
                need("tRC", b.act + t["rc"])  # JEDEC: tRC is ACT to ACT or REF
            need("tRFC", pc.refab + t["rfc"])
            pc.refab = cyc
        else:  # REFsb
            if bank.open_row is not None:
                bad.append(("bank open (REFsb needs the bank closed)", -1))
            need("tRP", bank.pre + t["rp"])
            need("tRC", bank.act + t["rc"])
            need("tRFCsb", bank.refsb + t["rfc_sb"])
            bank.refsb = cyc
        out.extend(Violation(i, cyc, cmd, rule, earliest) for rule, earliest in bad)
    return out


__all__ = ["COMMANDS", "COMMAND_DTYPE", "Violation", "check_dram_timing", "command_trace"]
