"""A self-contained run (topology, link, router, endpoint, traffic, faults, seed) that prints
as TOML and replays from it with one call: the unit a fuzzer reports. Point-to-point by
default; a routed fabric's case carries its topology and router, and its faults may name any
link direction, router-to-router ones too."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabricsim import _core
from fabricsim.errors import UnsafeSpecWarning
from fabricsim.fabric import Fabric
from fabricsim.faults import Fault
from fabricsim.result import Result
from fabricsim.specs import EndpointSpec, LinkSpec, RouterSpec
from fabricsim.topology import Topology, point_to_point
from fabricsim.traffic.messages import MessageTraffic, messages

_COLUMNS = ("src", "dst", "bytes", "inject_ps", "vc")


@dataclass(frozen=True)
class Case:
    """One run's inputs. ``Case.from_toml(case.to_toml()) == case``."""

    link: LinkSpec
    traffic: MessageTraffic
    endpoint: EndpointSpec = field(default_factory=EndpointSpec)
    faults: tuple[Fault, ...] = ()
    seed: int = 0
    topology: Topology = field(default_factory=point_to_point)
    router: RouterSpec = field(default_factory=RouterSpec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "topology": self.topology.to_dict(),
            "link": self.link.to_dict(),
            "router": self.router.to_dict(),
            "endpoint": self.endpoint.to_dict(),
            "traffic": {c: getattr(self.traffic, c).tolist() for c in _COLUMNS},
            "faults": [f.to_dict() for f in self.faults],
        }

    def to_toml(self) -> str:
        """The case as TOML (validated by the engine on the way)."""
        canonical = _core.spec_normalize("case", json.dumps(self.to_dict()))
        return _core.spec_to_toml("case", canonical)

    @classmethod
    def from_toml(cls, text: str, origin: str = "<case>") -> Case:
        d = json.loads(_core.spec_from_toml("case", text, origin))
        cols = {c: np.asarray(d["traffic"][c], dtype=np.int64) for c in _COLUMNS}
        faults = tuple(Fault(**f) for f in d["faults"])
        traffic = messages(cols["src"], cols["dst"], cols["bytes"], at_ps=cols["inject_ps"], vc=cols["vc"])
        topo = d["topology"]
        n = _core.fabric_endpoints(json.dumps({"topology": topo, "link": d["link"]}))
        return cls(
            link=LinkSpec(**d["link"]),
            traffic=traffic,
            endpoint=EndpointSpec(**d["endpoint"]),
            faults=faults,
            seed=int(d["seed"]),
            topology=Topology(
                type=topo["type"], num_endpoints=n, params={k: v for k, v in topo.items() if k != "type"}
            ),
            router=RouterSpec(**d.get("router", {})),
        )

    def fabric(self) -> Fabric:
        """The fabric of the case (unsafe-setting warnings silenced: fuzzing meant them)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnsafeSpecWarning)
            return Fabric(topology=self.topology, link=self.link, endpoint=self.endpoint, router=self.router)

    def run(self, **options: Any) -> Result:
        """Runs the case; ``options`` go to :meth:`Fabric.run` (``check_invariants`` is on by
        default, so a broken protocol raises where it breaks)."""
        options.setdefault("check_invariants", True)
        res = self.fabric().run(self.traffic, seed=self.seed, faults=self.faults, **options)
        assert isinstance(res, Result)
        return res


def replay(text: str) -> Result:
    """Runs a case from its TOML text: the one call that reproduces a fuzzer's finding."""
    return Case.from_toml(text).run()


__all__ = ["Case", "replay"]
