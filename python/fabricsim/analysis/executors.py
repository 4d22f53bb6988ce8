"""Where a sweep's runs execute: in this process (one after the other, or on ``workers``
threads: the engine releases the GIL), on any ``concurrent.futures`` executor (threads,
processes), or on a Dask cluster (a ``dask.distributed.Client``: its ``submit`` and the
futures' ``result`` are the same seam). Every run is a picklable call of a top-level
function, so process pools and remote workers can run it; the answers are identical to the
in-process sweep (each run is deterministic in its spec, workload and seed).

A failure loses no finished point: :class:`SweepError` carries the finished results and
names the inputs whose runs failed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from fabricsim.errors import FabricsimError

T = TypeVar("T")
R = TypeVar("R")


class Future(Protocol):
    def result(self) -> Any: ...


class Executor(Protocol):
    """What a sweep needs of an executor: ``submit(fn, *args)`` returning a future with
    ``result()``. ``concurrent.futures`` executors and ``dask.distributed.Client`` have it."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...


class SweepError(FabricsimError, RuntimeError):
    """Some runs of a sweep failed. ``finished`` maps each input whose run finished to its
    result; ``failed`` maps each other input to its exception (the first is chained)."""

    def __init__(self, message: str, finished: dict[Any, Any], failed: dict[Any, BaseException]) -> None:
        super().__init__(message)
        self.finished = finished
        self.failed = failed


def local_cluster(workers: int = 2) -> Any:
    """A ``dask.distributed.Client`` on a ``LocalCluster`` of ``workers`` processes (one
    thread each), for sweeps on this machine's cores; point a client at a real scheduler
    with ``dask.distributed.Client("tcp://host:8786")`` instead. Its dashboard takes a free
    port (``client.dashboard_link``): a second cluster on the machine, or another program on
    dask's default 8787, does not stop it starting. Needs dask.distributed
    (``pip install "dask[distributed]"``)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - exercised without the extra
        raise ImportError('local_cluster needs dask.distributed: pip install "dask[distributed]"') from e
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")  # type: ignore[no-untyped-call,unused-ignore]
    return Client(cluster)  # type: ignore[no-untyped-call,unused-ignore]


class _Bar:
    """A sweep's progress on standard error, one step a finished run: a tqdm bar when tqdm is
    installed, else a line rewritten in place; nothing when off."""

    def __init__(self, total: int, on: bool) -> None:
        self.total, self.done, self.bar = total, 0, None
        self.on = on
        if on:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="run", leave=False)
            except ImportError:
                pass

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.on:
            sys.stderr.write(f"\r{self.done}/{self.total} runs")
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.on:
            sys.stderr.write("\n")


def show_progress(progress: bool | None) -> bool:
    """``progress`` as asked; None: on when standard error is a terminal."""
    if progress is None:
        return sys.stderr.isatty()
    if not isinstance(progress, bool):
        from fabricsim.errors import SpecError

        raise SpecError(f"progress: must be True, False or None, got {progress!r}", path="progress")
    return progress


def run_all(
    fn: Callable[..., R],
    inputs: Sequence[T],
    args: tuple[Any, ...] = (),
    executor: Executor | None = None,
    workers: int = 1,
    stop: Callable[[R], bool] | None = None,
    progress: bool | None = None,
) -> list[R]:
    """``[fn(x, *args) for x in inputs]``, run where ``executor`` says (or on ``workers``
    threads, or in order here). ``stop``: in-process only, the results end at the first for
    which it is true (an executor runs every input; the caller trims). A run that fails
    raises :class:`SweepError` once every run has ended, with the finished ones (in order here,
    the first failure propagates as it is). ``progress``: a bar of finished runs on standard
    error (None: when it is a terminal)."""
    bar = _Bar(len(inputs), show_progress(progress))
    if executor is None and workers <= 1:
        out: list[R] = []
        try:
            for x in inputs:
                out.append(fn(x, *args))
                bar.step()
                if stop is not None and stop(out[-1]):
                    break
        finally:
            bar.close()
        return out
    pool: Any = executor if executor is not None else ThreadPoolExecutor(workers)
    try:
        futures = [pool.submit(fn, x, *args) for x in inputs]
        results: dict[int, Any] = {}
        failed: dict[int, BaseException] = {}
        for i, f in enumerate(futures):
            try:
                results[i] = f.result()
            except Exception as e:
                failed[i] = e  # every failure is reported with its input
            bar.step()
    finally:
        bar.close()
        if executor is None:
            pool.shutdown()
    if failed:
        first = min(failed)
        raise SweepError(
            f"{len(failed)} of {len(inputs)} runs failed (first: input {inputs[first]!r}: "
            f"{type(failed[first]).__name__}: {failed[first]}); the {len(results)} finished runs are in .finished",
            {_key(inputs[i]): r for i, r in results.items()},
            {_key(inputs[i]): e for i, e in failed.items()},
        ) from failed[first]
    return [results[i] for i in range(len(inputs))]


def _key(x: Any) -> Any:
    try:
        hash(x)
        return x
    except TypeError:
        return repr(x)


__all__ = ["Executor", "SweepError", "local_cluster", "run_all", "show_progress"]
