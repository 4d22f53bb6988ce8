"""Link utilization over time for message traffic: ``fab.run(traffic, link_samples=N)``
under the name the first version had. The engine reads every link's flit counter at about
``samples`` evenly spaced points while it runs (``RunOptions.link_samples``, at either
fidelity, for every workload), so that :meth:`~fabricsim.RunResultBase.to_perfetto` draws each
link's utilization per interval instead of its mean."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fabricsim.checks import whole_number
from fabricsim.fabric import Fabric
from fabricsim.result import Result
from fabricsim.run_options import MAX_LINK_SAMPLES, RunOptions, resolve
from fabricsim.traffic.messages import MessageTraffic
from fabricsim.traffic.synthetic import SyntheticLoad

MAX_SAMPLES = MAX_LINK_SAMPLES


def run_sampled(
    fab: Fabric,
    traffic: MessageTraffic | SyntheticLoad,
    samples: int = 200,
    options: RunOptions | None = None,
    **overrides: Any,
) -> Result:
    """``fab.run(traffic)``'s result with ``link_samples``: the times (ps) of between
    ``samples / 2`` and ``samples`` evenly spaced points over the run (and the end) and every
    link direction's flits on the wire by each (a ``samples x links`` array)."""
    samples = whole_number("samples", samples, 1, MAX_SAMPLES)
    opts = replace(resolve(options, overrides), link_samples=samples)
    result: Result = fab.run(traffic, opts)
    return result


__all__ = ["run_sampled"]
