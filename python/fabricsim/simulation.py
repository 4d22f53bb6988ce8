"""A run you can step through: advance cycles, inspect state, inject messages and faults."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from fabricsim import _core
from fabricsim.errors import DeadlockError, SimulationLimitError
from fabricsim.faults import Fault
from fabricsim.result import Result
from fabricsim.run_contract import engine_hooks
from fabricsim.run_options import RunOptions
from fabricsim.traffic.messages import MessageTraffic, concat, messages


class Simulation:
    """Made by :meth:`Fabric.simulation`. Cycles are the fabric clock's (one flit time).

    >>> sim = fab.simulation(traffic, seed=0)
    >>> sim.step(100)                 # cycles 0..99
    >>> sim.state()[0]["credits"]     # link direction 0's sender credits per VC
    >>> sim.inject(0, 1, 4096)        # a message offered now
    >>> sim.inject_fault(fs.faults.corrupt_flit(link=0, flit=7))
    >>> res = sim.finish()            # run to completion: a Result
    """

    def __init__(
        self, core: _core.CoreSimulation, traffic: MessageTraffic, options: RunOptions | None = None
    ) -> None:
        self._core = core
        self._traffic = traffic
        self._options = options if options is not None else RunOptions()
        self._injected: list[tuple[int, int, int, int, int]] = []

    @property
    def cycle(self) -> int:
        """The next cycle to simulate (``0..cycle`` are done)."""
        return self._core.cycle

    @property
    def time_ps(self) -> int:
        """When the next cycle starts."""
        return self._core.time_ps

    def delivered(self) -> int:
        """Messages delivered so far."""
        return self._core.delivered()

    def step(self, cycles: int = 1) -> None:
        """Simulates the next ``cycles`` cycles. Delivering everything does not stop it (more may
        be injected); a deadlock or a limit raises, with the partial result attached."""
        try:
            with engine_hooks(self._options):
                self._core.step(cycles)
        except (DeadlockError, SimulationLimitError) as e:
            if e.partial_raw is not None:
                e.partial = Result(e.partial_raw, self.traffic)
            raise

    def state(self) -> list[dict[str, Any]]:
        """Per link direction (the rows of ``Result.links``): ``credits``, ``queued_messages``,
        ``buffered`` and ``credits_returning`` per VC; ``flits_on_wire``, ``acks_in_flight``;
        the sender's ``next_seq``, ``acked_seq`` (full counters), ``replaying``; the receiver's
        ``expected_seq``; ``transmissions`` (replays included)."""
        return self._core.state()

    def inject(self, src: int, dst: int, bytes: int, vc: int = 0) -> int:
        """Offers a message now (at :attr:`time_ps`); returns its row in the results."""
        at = self.time_ps
        row = self._core.inject(src, dst, bytes, vc)
        self._injected.append((src, dst, bytes, at, vc))
        return row

    def inject_fault(self, fault: Fault) -> None:
        """Adds a scripted fault; its times are absolute (one already past fires at the next
        opportunity), its flit index counts transmissions from the start of the run."""
        self._core.inject_fault(json.dumps(fault.to_dict()))

    @property
    def traffic(self) -> MessageTraffic:
        """Every message so far: the traffic given, then the injected ones."""
        if not self._injected:
            return self._traffic
        cols = np.asarray(self._injected, dtype=np.int64)
        more = messages(cols[:, 0], cols[:, 1], cols[:, 2], at_ps=cols[:, 3], vc=cols[:, 4])
        return concat(self._traffic, more)

    def finish(self) -> Result:
        """Runs until every message is delivered and returns the :class:`Result`."""
        try:
            with engine_hooks(self._options):
                raw = self._core.finish()
        except (DeadlockError, SimulationLimitError) as e:
            if e.partial_raw is not None:
                e.partial = Result(e.partial_raw, self.traffic)
            raise
        return Result(raw, self.traffic)

    def partial(self) -> Result:
        """The result so far (``complete`` is False)."""
        return Result(self._core.partial(), self.traffic)


__all__ = ["Simulation"]
