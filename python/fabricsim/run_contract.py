"""One run contract for every workload.

```text
 fab.run(workload, options=None, **overrides)
     |  options = RunOptions(...) with the overrides, checked once (the engine's options too)
     |  static deadlock check (options.check_deadlock), with the workload's message classes
     |  engine hooks: Ctrl-C, options.progress
     v
 workload.run_on(fab, options)  --> a RunResultBase subclass
     |  one limit policy: an incomplete result raises SimulationLimitError(.partial = it)
     v
 result: complete, simulated_time_ps, summary(), to_dict(), to_pandas()
```

A workload kind (messages, synthetic loads, collectives, schedules, memory loads, and what
comes next) is a :class:`Workload`: it implements ``run_on``, and says which static check it
needs. Settings that describe the workload (a collective's reduce cost, its coupling to
memory) live on the workload; how the run goes lives in :class:`~fabricsim.RunOptions`.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim import _core
from fabricsim.checks import one_of
from fabricsim.errors import DeadlockError, SimulationLimitError, SpecError
from fabricsim.run_options import RunOptions

if TYPE_CHECKING:
    import pandas

    from fabricsim.fabric import DeadlockFreedom, Fabric
    from fabricsim.timeline import Events


class RunResultBase(abc.ABC):
    """What every result has.

    - ``complete``: all the workload's work finished (False only in a partial result, the
      ``partial`` of a :class:`~fabricsim.SimulationLimitError` or
      :class:`~fabricsim.DeadlockError`).
    - ``simulated_time_ps``: the simulated time the run covered, integer ps.
    - ``summary()``: a readable text; ``to_dict()``: the headline numbers as plain values
      (JSON-ready); ``tables()``: the result's tables as numpy structured arrays, by name;
      ``to_pandas(table)``: one of them as a DataFrame (pandas is an optional extra).
    """

    complete: bool
    limit_expected: bool = False
    """The run stopped at a limit the workload itself sets (a synthetic load's drain limit,
    past saturation): an incomplete result that is an answer, not an error."""

    @property
    @abc.abstractmethod
    def simulated_time_ps(self) -> int:
        """The simulated time the run covered, ps."""

    @abc.abstractmethod
    def summary(self) -> str: ...

    @abc.abstractmethod
    def _headline(self) -> dict[str, Any]:
        """The result's own headline numbers (plain values)."""

    @abc.abstractmethod
    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """The result's tables as numpy structured arrays, the main one first."""

    def to_dict(self) -> dict[str, Any]:
        """``kind``, ``complete``, ``simulated_time_ps`` and the headline numbers, as plain
        Python values (JSON-ready)."""
        d: dict[str, Any] = {
            "kind": type(self).__name__,
            "complete": bool(self.complete),
            "simulated_time_ps": int(self.simulated_time_ps),
        }
        d.update({k: _plain(v) for k, v in self._headline().items()})
        return d

    def to_perfetto(
        self,
        path: str | PathLike[str],
        *,
        max_events: int = 1_000_000,
        start_ns: float | None = None,
        end_ns: float | None = None,
    ) -> Path:
        """Writes the run's timeline as a Chrome / Perfetto JSON trace (ui.perfetto.dev opens
        it): what each kind of result shows is in its ``_timeline``; the events that start in
        ``[start_ns, end_ns)``, the earliest ``max_events`` of them (a metadata event says how
        many were left out). Returns the path."""
        from fabricsim.timeline import write_trace

        return write_trace(path, self._timeline(), max_events, start_ns, end_ns)

    def _timeline(self) -> list[Events]:
        """The run's events for :meth:`to_perfetto` (none by default)."""
        return []

    def to_parquet(self, directory: str | PathLike[str]) -> list[Path]:
        """Writes every table of the result as ``<directory>/<table>.parquet`` (column names
        carry their units); returns the files. Needs pyarrow (``pip install
        fabricsim[parquet]``)."""
        try:
            import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
            import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError as e:  # pragma: no cover - exercised without the extra
            raise ImportError(
                "to_parquet needs pyarrow, an optional extra: pip install pyarrow (or fabricsim[parquet])"
            ) from e
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in self.tables().items():
            target = out / f"{name}.parquet"
            pq.write_table(pa.table({col: table[col] for col in table.dtype.names or ()}), target)
            written.append(target)
        return written

    def to_pandas(self, table: str | None = None) -> pandas.DataFrame:
        """A table of the result (default: the main one, ``next(iter(tables()))``) as a
        DataFrame, one column a field, with units in the names. Needs pandas
        (``pip install fabricsim[pandas]``)."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - exercised without the extra
            raise ImportError(
                "to_pandas needs pandas, an optional extra: pip install pandas (or fabricsim[pandas])"
            ) from e
        tables = self.tables()
        name = table if table is not None else next(iter(tables))
        one_of("table", name, tuple(tables))
        frame: pandas.DataFrame = pd.DataFrame(tables[name])
        return frame


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


class Workload(abc.ABC):
    """Something :meth:`Fabric.run <fabricsim.Fabric.run>` runs. Contract:

    - ``run_on(fabric, options)`` runs it on ``fabric`` with ``options`` (already checked,
      Ctrl-C and progress hooks already installed) and returns a :class:`RunResultBase`; it
      returns an incomplete result, or lets the engine's ``SimulationLimitError`` through,
      when a limit stops it (the seam raises for it).
    - ``deadlock_report(fabric)`` is the static check its traffic needs (default: the
      fabric's routing with all its VCs).
    """

    @abc.abstractmethod
    def run_on(self, fabric: Fabric, options: RunOptions) -> RunResultBase: ...

    def deadlock_report(self, fabric: Fabric) -> DeadlockFreedom:
        return fabric.check_deadlock_freedom()


@contextlib.contextmanager
def engine_hooks(options: RunOptions) -> Iterator[None]:
    """While inside: runs started on this thread call ``options.progress``."""
    previous = _core.set_progress(options.callback())
    try:
        yield
    finally:
        _core.set_progress(previous)


MAX_LINK_SAMPLE_BYTES = 2 << 30
"""The most memory a run's link samples may hold (every sample keeps every link's counter)."""


def check_link_samples(fabric: Fabric, samples: int) -> None:
    """Refuses, before running, link samples that would not fit in memory: up to ``samples +
    1`` rows of every link direction's 8-byte counter."""
    links = len(fabric.link_directions())
    need = (samples + 1) * links * 8
    if need > MAX_LINK_SAMPLE_BYTES:
        most = max(1, MAX_LINK_SAMPLE_BYTES // (links * 8) - 1)
        raise SpecError(
            f"options.link_samples: {samples:,} samples of {links:,} link directions would hold about "
            f"{need / 2**30:.1f} GiB (at most {MAX_LINK_SAMPLE_BYTES >> 30} GiB): ask for at most {most:,}",
            path="options.link_samples",
        )


def execute(fabric: Fabric, workload: Workload, options: RunOptions) -> RunResultBase:
    """The seam: checks, hooks, the run, and the one limit policy."""
    if options.link_samples:
        check_link_samples(fabric, options.link_samples)
    if options.checks_deadlock:
        report = workload.deadlock_report(fabric)
        if not report.ok:
            waiting = [
                {"node": r, "port": p, "vc": v, "reason": "routing dependency"} for r, p, v in report.cycle
            ]
            raise DeadlockError(
                f"{report}; not run (pass check_deadlock=False to run it anyway)", waiting=waiting
            )
    with engine_hooks(options):
        res = workload.run_on(fabric, options)
    return require_complete(res, options)


def require_complete(res: RunResultBase, options: RunOptions) -> RunResultBase:
    """The limit policy: a result a run limit cut short raises SimulationLimitError with it
    as ``partial``."""
    if res.complete or res.limit_expected:
        return res
    err = SimulationLimitError(
        f"run limit reached at {res.simulated_time_ps} ps before the work finished "
        f"(max_cycles={options.max_cycles}, max_time_ns={options.max_time_ns}): {res.summary().splitlines()[0]}"
    )
    err.partial = res
    raise err


__all__ = ["RunResultBase", "Workload", "engine_hooks", "execute", "require_complete"]
