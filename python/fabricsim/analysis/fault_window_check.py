"""Fault windows on the reduced step's clock against the step run whole (docs/fidelity.md,
"Fault windows"): random small steps on two ``dgx_h100_cluster`` nodes, each with one random
link (a GPU's NIC uplink or its link to an NVSwitch) down or slowed for a random part of the
step, run both ways; what the window adds to the step, compared."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

SEEDS = ((1, 30), (7, 40))
"""(seed, cases) drawn: 70 cases in all, about 5 minutes."""


@dataclass
class Case:
    """One drawn case and what each way added to the step (ms)."""

    text: str
    step_ms: float
    added_reduced_ms: float
    added_whole_ms: float

    @property
    def error(self) -> float:
        """What the clock adds less what the run whole adds, over the step run whole."""
        return (self.added_reduced_ms - self.added_whole_ms) / self.step_ms


def cases(seed: int, count: int, log: Callable[[str], None] = lambda s: None) -> list[Case]:
    from fabricsim.fabric import Fabric
    from fabricsim.faults import link_down, link_slow
    from fabricsim.run_options import RunOptions
    from fabricsim.workload.model import Transformer
    from fabricsim.workload.plan import Parallelism
    from fabricsim.workload.step import training_step
    from fabricsim.workload.whole_step import run_whole

    model = Transformer(layers=4, hidden=512, heads=8, seq_len=256, vocab=8000, name="tiny")
    fab = Fabric.preset("dgx_h100_cluster", nodes=2)
    links = fab.link_directions()
    rng = random.Random(seed)
    out: list[Case] = []
    for _ in range(count):
        tp, pp = rng.choice([1, 2, 4, 8]), rng.choice([1, 2, 4])
        if tp * pp > 16:
            pp = 1
        dp = 16 // (tp * pp)
        v = rng.choice([1, 2]) if pp > 1 and model.layers % (pp * 2) == 0 else 1
        zero = rng.choice([0, 1, 2, 3]) if dp > 1 else 0
        plan = Parallelism(
            tp=tp,
            pp=pp,
            dp=dp,
            virtual_stages=v,
            global_batch=pp * rng.choice([1, 2]) * dp,
            zero=zero,
            bucket_bytes=1 << 20,
        )
        gpu = rng.randrange(16)
        nic = rng.random() < 0.5
        mine = (links["src"] == gpu) & ((links["flit_rate"] < 1) if nic else (links["flit_rate"] >= 1))
        dsts = links["dst"][mine]
        link = fab.link_index(gpu, int(dsts[rng.randrange(len(dsts))]))
        step = training_step(model, plan, gpu="h100_sxm", fault_windows="reduced")
        base = fab.run(step, fidelity="flow")
        t_ns = base.step_time_s * 1e9
        at, length = rng.uniform(0.01, 0.8) * t_ns, rng.uniform(0.05, 0.5) * t_ns
        fault = (
            link_down(link, at, length)
            if rng.random() < 0.5
            else link_slow(link, rng.choice([0.1, 0.25, 0.5]), at, length)
        )
        reduced = fab.run(step, fidelity="flow", faults=[fault])
        whole_base = run_whole(step, fab, RunOptions(fidelity="flow"))
        whole = run_whole(step, fab, RunOptions(fidelity="flow", faults=(fault,)))
        how = "down" if fault.type == "link_down" else f"at {fault.rate:g}"
        text = (
            f"tp {tp}, pp {pp}x{v}, dp {dp}, ZeRO {zero}; GPU {gpu}'s {'NIC' if nic else 'NVLink'} {how} "
            f"from {at / t_ns:.0%} for {length / t_ns:.0%}"
        )
        case = Case(
            text,
            whole.step_time_s * 1e3,
            (reduced.step_time_s - base.step_time_s) * 1e3,
            (whole.step_time_s - whole_base.step_time_s) * 1e3,
        )
        log(f"  {text}: {case.error:+.2%}")
        out.append(case)
    return out


def fault_window_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The summary docs/fidelity.md quotes, and the cases past 1% of the step."""
    drawn = [c for seed, count in SEEDS for c in cases(seed, count, log)]
    slowed = [c for c in drawn if max(c.added_whole_ms, c.added_reduced_ms) > 0.005 * c.step_ms]

    def within(group: list[Case], bound: float) -> int:
        return sum(abs(c.error) <= bound for c in group)

    lines = [
        f"{len(drawn)} cases: what the window adds, reduced step against run whole, within 1% of the step on "
        f"{within(drawn, 0.01)}, within 2.5% on {within(drawn, 0.025)}; of the {len(slowed)} the window "
        f"slowed by more than 0.5%, {within(slowed, 0.01)} and {within(slowed, 0.025)}",
        "",
        "| case | step run whole (ms) | added: clock (ms) | added: run whole (ms) | error (of the step) |",
        "|---|---|---|---|---|",
    ]
    for c in sorted(drawn, key=lambda c: -abs(c.error)):
        if abs(c.error) > 0.01:
            lines.append(
                f"| {c.text} | {c.step_ms:.3f} | {c.added_reduced_ms:.3f} | {c.added_whole_ms:.3f} | {c.error:+.1%} |"
            )
    return "\n".join(lines)


__all__ = ["SEEDS", "Case", "cases", "fault_window_table"]
