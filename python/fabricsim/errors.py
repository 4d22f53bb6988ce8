"""Exceptions raised by fabricsim. The Rust core maps each of its errors onto one of these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fabricsim.run_contract import RunResultBase


class FabricsimError(Exception):
    """Base class of every fabricsim error."""


class SpecError(FabricsimError, ValueError):
    """Invalid input: a spec field, a preset name, or a traffic row.

    ``path`` names the offending field (``link.credits_per_vc``, ``traffic.dst[3]``);
    the message says the value and what is allowed.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class _WithPartial(FabricsimError, RuntimeError):
    """An error that carries the partial result of the run so far."""

    def __init__(self, message: str, partial_raw: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.partial_raw = partial_raw
        #: The partial result (``complete`` is False) of whatever ran: a
        #: :class:`~fabricsim.Result`, a collective's, a memory run's; set by the caller that
        #: knows the workload.
        self.partial: RunResultBase | None = None


class DeadlockError(_WithPartial):
    """Work remains but nothing can move: the report names who waits on what.

    ``cycle``/``time_ps``: when it was detected; ``waiting``: a list of dicts with ``node``,
    ``port``, ``vc`` and ``reason``.
    """

    def __init__(
        self,
        message: str,
        cycle: int = 0,
        time_ps: int = 0,
        waiting: list[dict[str, Any]] | None = None,
        partial_raw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, partial_raw)
        self.cycle = cycle
        self.time_ps = time_ps
        self.waiting = waiting or []


class SimulationLimitError(_WithPartial):
    """A run limit (``max_cycles``, ``max_time_ns``) was reached before the work finished."""


class InvariantError(FabricsimError, RuntimeError):
    """An engine invariant broke (credits not conserved, a buffer overflowed, a message
    delivered twice). Always a bug in a model or a broken protocol; ``cycle`` says when."""

    def __init__(self, message: str, cycle: int = 0) -> None:
        super().__init__(message)
        self.cycle = cycle


class NotKeptError(FabricsimError, LookupError):
    """A part of a result the run was asked not to keep (``keep_messages=False``: the
    per-message columns)."""


class UnsafeSpecWarning(UserWarning):
    """A legal but unsafe setting: the engine runs it as written (so that fuzzing can show
    what it breaks), and the warning says what to expect (a sequence space too small for the
    replay window, credits that can never be returned, ...)."""


class InternalError(FabricsimError, RuntimeError):
    """The engine panicked: a fabricsim bug. Please report it with the inputs."""


__all__ = [
    "DeadlockError",
    "FabricsimError",
    "InternalError",
    "InvariantError",
    "NotKeptError",
    "SimulationLimitError",
    "SpecError",
    "UnsafeSpecWarning",
]
