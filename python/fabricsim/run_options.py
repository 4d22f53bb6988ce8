"""How to run a workload, for every kind of workload: :class:`RunOptions`.

``fab.run(workload, options=None, **overrides)`` takes one; the engine's own run options
(``rust/core/src/spec/run.rs``) mirror every field it uses, and validate them.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fabricsim import _core
from fabricsim.checks import flag, one_of, whole_number
from fabricsim.errors import SpecError
from fabricsim.faults import Fault

EngineMode = Literal["auto", "tick_all"]
Fidelity = Literal["cycle", "flow"]

ENGINES: tuple[str, ...] = ("auto", "tick_all")
FIDELITIES: tuple[str, ...] = ("cycle", "flow")
"""The fidelities a run can take (docs/fidelity.md says where flow differs from cycle)."""

MAX_SEED = (1 << 64) - 1

MAX_LINK_SAMPLES = 100_000
"""The most link samples a run keeps (each holds every link direction's counter)."""
MAX_LINK_SPANS = 20_000_000
"""The most link crossings a run records (about 72 bytes each in the engine and as columns:
under 1.5 GB at the most)."""


@dataclass(frozen=True)
class Progress:
    """What a run has done, as its progress callback sees it (about every 0.1 s of wall
    time, from inside the engine): the next ``cycle`` of the model's clock, and ``done``
    of ``total`` units of work (messages delivered, collective operations finished, memory
    requests served)."""

    cycle: int
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """``done / total`` (0 when nothing is known yet)."""
        return self.done / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]


def _int(value: Any, name: str, low: int, high: int) -> int:
    return whole_number(f"options.{name}", value, low, high)


@dataclass(frozen=True)
class RunOptions:
    """How a run goes, whatever it runs (messages, synthetic loads, collectives, memory
    loads):

    - ``seed``: every random stream of the run derives from it (same spec + workload + seed =
      same bits).
    - ``engine``: ``"auto"`` skips idle cycles, ``"tick_all"`` steps every one (a debug
      reference; results are identical).
    - ``fidelity``: ``"cycle"`` (every flit, credit and DRAM command; the reference) or
      ``"flow"`` (each message a flow along its route, link capacities shared max-min fairly:
      for scale; docs/fidelity.md says where it differs from cycle, measured).
    - ``max_cycles`` / ``max_time_ns``: stop with :class:`~fabricsim.SimulationLimitError`,
      whose ``partial`` holds the result so far, for every kind of workload.
    - ``watchdog_cycles``: a run where nothing moves for this long raises
      :class:`~fabricsim.DeadlockError` (a fabric that can never move again, or whose
      channels wait on each other in a cycle when a limit comes, raises it at once).
    - ``check_invariants``: check credit conservation every cycle (slower).
    - ``check_deadlock``: run the static channel-dependency check first and refuse a
      routing that can deadlock. ``None`` (the default): before cycle-level runs only (the
      flow model has no buffers, so it cannot deadlock, and the check grows with the square of
      the endpoints: 12 s at 16,384 GPUs); ``True``: at both fidelities; ``False``: never.
    - ``faults``: a scripted fault plan (:mod:`fabricsim.faults`).
    - ``link_samples``: read every link direction's flit counter at about this many evenly
      spaced times during the run (between half of it and all of it, whatever the run's
      length, plus one at the end), at either fidelity and for every workload on a fabric;
      the result's ``link_samples`` holds them and its timeline draws each link's utilization
      per interval. 0 (the default): none, each link's mean only.
    - ``link_spans``: record when each message crossed each link direction, up to this many
      crossings (0, the default: none): the result's ``link_spans`` table and, in its
      timeline, a span per message on every link it crossed. At cycle fidelity a span runs
      from the message's first flit leaving the link's sender to the end of the cycle its last
      flit left in; at flow fidelity from the flow's start to the end of its transfer, on every
      link of its path. Crossings past the cap are counted (``link_spans_left_out``), not kept.
      The run is the same with or without them.
    - ``keep_messages``: return the per-message columns (``res.messages``; a collective's
      ``message_op``). ``False`` keeps the summaries only (times, per-operation and per-rank
      times, link utilization and link samples): at thousands of GPUs the columns are the
      largest part of a result. Message traffic and collectives take it; a synthetic load's
      statistics and a memory load's request rows are built from their messages, so they
      refuse it. A run cut short keeps its messages (they say how far it got).
    - ``progress``: a callable taking a :class:`Progress`, called about every 0.1 s while
      the engine runs (raising from it stops the run with that exception); ``True`` shows a
      progress bar on standard error (tqdm when installed, else a plain line).

    Ctrl-C stops any run within about 0.1 s with ``KeyboardInterrupt``.
    """

    seed: int = 0
    engine: EngineMode = "auto"
    fidelity: Fidelity = "cycle"
    max_cycles: int | None = None
    max_time_ns: float | None = None
    watchdog_cycles: int = 1_000_000
    check_invariants: bool = False
    check_deadlock: bool | None = None
    faults: tuple[Fault, ...] = ()
    link_samples: int = 0
    keep_messages: bool = True
    link_spans: int = 0
    progress: ProgressCallback | bool | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "seed", _int(self.seed, "seed", 0, MAX_SEED))
        one_of("options.engine", self.engine, ENGINES)
        one_of("options.fidelity", self.fidelity, FIDELITIES)
        if self.max_cycles is not None:
            set_(self, "max_cycles", _int(self.max_cycles, "max_cycles", 1, MAX_SEED))
        if self.max_time_ns is not None:
            t = self.max_time_ns
            if isinstance(t, bool) or (not isinstance(t, (int, float)) and not hasattr(t, "__float__")):
                raise SpecError(
                    f"options.max_time_ns: must be a number, got {t!r}", path="options.max_time_ns"
                )
            t = float(t)
            if not math.isfinite(t) or t <= 0:
                raise SpecError(
                    f"options.max_time_ns: must be a finite number > 0, got {t}",
                    path="options.max_time_ns",
                )
            set_(self, "max_time_ns", t)
        set_(self, "watchdog_cycles", _int(self.watchdog_cycles, "watchdog_cycles", 1, MAX_SEED))
        set_(self, "link_samples", _int(self.link_samples, "link_samples", 0, MAX_LINK_SAMPLES))
        set_(self, "link_spans", _int(self.link_spans, "link_spans", 0, MAX_LINK_SPANS))
        if self.check_deadlock is not None and not isinstance(self.check_deadlock, bool):
            raise SpecError(
                f"options.check_deadlock: must be None, True or False, got {self.check_deadlock!r}",
                path="options.check_deadlock",
            )
        for name in ("check_invariants", "keep_messages"):
            flag(f"options.{name}", getattr(self, name))
        if isinstance(self.faults, Fault) or not isinstance(self.faults, Sequence):
            raise SpecError(
                f"options.faults: must be a list of fabricsim.faults, got {self.faults!r}",
                path="options.faults",
            )
        for i, f in enumerate(self.faults):
            if not isinstance(f, Fault):
                raise SpecError(
                    f"options.faults[{i}]: must be a fabricsim.faults fault, got {f!r}",
                    path=f"options.faults[{i}]",
                )
        set_(self, "faults", tuple(self.faults))
        p = self.progress
        if p is not None and not isinstance(p, bool) and not callable(p):
            raise SpecError(
                f"options.progress: must be a callable taking a Progress, True or None, got {p!r}",
                path="options.progress",
            )

    def replace(self, **changes: Any) -> RunOptions:
        """These options with ``changes`` (field names as in the constructor)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            allowed = ", ".join(f.name for f in dataclasses.fields(self))
            raise SpecError(f"options: unknown option(s) {unknown}; allowed: {allowed}", path="options")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as plain values (``faults`` as dicts; ``progress`` left out)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "progress"}
        d["faults"] = [f.to_dict() for f in self.faults]
        return d

    def engine_json(self) -> str:
        """The engine's run options as JSON (what ``_core`` takes)."""
        import json

        d = self.to_dict()
        del d["check_deadlock"]
        return json.dumps(d)

    def require_messages(self, what: str) -> None:
        """Refuses ``keep_messages=False`` for a workload whose results are built from its
        messages (``what`` says which and why)."""
        if not self.keep_messages:
            raise SpecError(
                f"options.keep_messages: {what}; run it with keep_messages=True",
                path="options.keep_messages",
            )

    @property
    def checks_deadlock(self) -> bool:
        """Whether this run does the static deadlock check (``check_deadlock``, its default
        resolved for the fidelity)."""
        if self.check_deadlock is None:
            return self.fidelity == "cycle"
        return self.check_deadlock

    def callback(self) -> Callable[[int, int, int], None] | None:
        """What the engine calls with ``(cycle, done, total)``, or None."""
        p = self.progress
        if p is None or p is False:
            return None
        report: ProgressCallback = _default_display() if p is True else p

        def call(cycle: int, done: int, total: int) -> None:
            report(Progress(cycle, done, total))

        return call


def _default_display() -> ProgressCallback:
    """A progress display on standard error: a tqdm bar when tqdm is installed, else a line
    rewritten in place."""
    try:
        from tqdm import tqdm
    except ImportError:

        def line(p: Progress) -> None:
            sys.stderr.write(f"\rcycle {p.cycle}: {p.done}/{p.total} done")
            sys.stderr.flush()

        return line
    bar = tqdm(total=0, unit="work", leave=False)

    def update(p: Progress) -> None:
        bar.total = p.total
        bar.n = p.done
        bar.set_postfix(cycle=p.cycle, refresh=False)
        bar.refresh()

    return update


def resolve(options: RunOptions | None, overrides: dict[str, Any]) -> RunOptions:
    """``options`` (default :class:`RunOptions`) with ``overrides``; checked once."""
    base = options if options is not None else RunOptions()
    if not isinstance(base, RunOptions):
        raise SpecError(
            f"options: expected a fabricsim.RunOptions, got {type(base).__name__}", path="options"
        )
    opts = base.replace(**overrides) if overrides else base
    _core.spec_normalize("options", opts.engine_json())
    return opts


__all__ = ["ENGINES", "FIDELITIES", "EngineMode", "Fidelity", "Progress", "RunOptions", "resolve"]
