"""How a collective executes on a fabric: what its reduces and copies cost, whether its data
moves through each rank's HBM, and whether it is verified first. A setting of the workload
(``all_reduce(..., memory=True)``, ``schedule.with_execution(...)``), not of the run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from fabricsim.checks import flag, whole_number
from fabricsim.collectives.library import Library
from fabricsim.errors import SpecError

MAX_PIECE_BYTES = 1 << 40


@dataclass(frozen=True)
class Execution:
    """- ``reduce_ns_per_byte`` / ``copy_ns_per_byte``: the compute time of a reduce or a
      copy, per byte (0: free);
    - ``verify``: check the schedule symbolically before running it;
    - ``memory``: move the data through every rank's HBM stack at cycle level (the fabric
      needs ``hbm``): a send reads its data in ``piece_bytes`` pieces, each sent once read and
      written into the receiver's stack on arrival; a reduce reads its two inputs, then
      writes; a copy reads and writes. Off, data moves between memories for free;
    - ``library``: the communication library's launch, per-hop and protocol costs
      (:class:`~fabricsim.collectives.library.Library`, a preset name or one built by hand;
      default ``"nccl"``, NCCL's public cost model; ``"ideal"``: the schedule's messages alone)."""

    reduce_ns_per_byte: float = 0.0
    copy_ns_per_byte: float = 0.0
    verify: bool = True
    memory: bool = False
    piece_bytes: int = 64 << 10
    library: Library = field(default_factory=lambda: Library.preset("nccl"))

    def __post_init__(self) -> None:
        if isinstance(self.library, str):
            object.__setattr__(self, "library", Library.preset(self.library))
        if not isinstance(self.library, Library):
            raise SpecError(
                f"library: must be a Library or a preset name ({', '.join(Library.presets())}), got {self.library!r}",
                path="library",
            )
        for name in ("reduce_ns_per_byte", "copy_ns_per_byte"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise SpecError(f"{name}: must be a finite number >= 0, got {v!r}", path=name)
            object.__setattr__(self, name, float(v))
        for name in ("verify", "memory"):
            flag(name, getattr(self, name))
        piece = whole_number("piece_bytes", self.piece_bytes, 1, MAX_PIECE_BYTES)
        object.__setattr__(self, "piece_bytes", piece)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: Any) -> Execution:
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise SpecError(
                f"execution: unknown setting(s) {unknown}; allowed: {', '.join(self.names())}",
                path="execution",
            )
        return Execution(**{**{n: getattr(self, n) for n in self.names()}, **changes})


__all__ = ["Execution"]
