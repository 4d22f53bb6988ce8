"""Link utilization over time for message traffic: the run once as it is, and once stepped
(:class:`~fabricsim.simulation.Simulation`, the same cycle loop) reading every link's flit
counter at ``samples`` points, so that :meth:`~fabricsim.RunResultBase.to_perfetto` draws
each link's utilization per interval instead of its mean. The engine keeps no time series
(nothing on its hot path); this costs a second run."""

from __future__ import annotations

from typing import Any

import numpy as np

from fabricsim.checks import whole_number
from fabricsim.fabric import Fabric
from fabricsim.result import Result
from fabricsim.run_options import RunOptions, resolve
from fabricsim.traffic.messages import MessageTraffic
from fabricsim.traffic.synthetic import SyntheticLoad

MAX_SAMPLES = 100_000


def run_sampled(
    fab: Fabric,
    traffic: MessageTraffic | SyntheticLoad,
    samples: int = 200,
    options: RunOptions | None = None,
    **overrides: Any,
) -> Result:
    """``fab.run(traffic)``'s result, with ``link_samples``: the times (ps) of ``samples``
    evenly spaced points over the run and every link direction's flits sent by each (a
    ``samples x links`` array); ``to_perfetto`` then draws utilization per interval."""
    samples = whole_number("samples", samples, 1, MAX_SAMPLES)
    opts = resolve(options, overrides)
    result: Result = fab.run(traffic, opts)
    cycles = max(int(result.cycles), 1)
    points = np.unique(np.linspace(0, cycles, samples + 1).round().astype(np.int64))[1:]
    sim = fab.simulation(traffic, opts)
    flits = np.zeros((len(points), len(result.links)), dtype=np.int64)
    for i, at in enumerate(points):
        sim.step(int(at) - sim.cycle)
        # (each link direction's transmissions so far: its flits, replays included, as in
        # Result.links; read from the state, not a partial result, which converts every message)
        flits[i] = [d["transmissions"] for d in sim.state()]
    num, den = result.cycle_ps_ratio
    result.link_samples = (points * num // den, flits)
    return result


__all__ = ["run_sampled"]
