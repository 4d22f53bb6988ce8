"""Synthetic traffic: destination patterns, Bernoulli or periodic injection, packet-size mixes,
as messages of a given shape or as a load the fabric sizes and measures over a window
(:class:`SyntheticLoad`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import numpy.typing as npt

from fabricsim.errors import SpecError
from fabricsim.run_contract import Workload
from fabricsim.streams import Stream
from fabricsim.traffic.messages import MessageTraffic, messages

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.result import Result
    from fabricsim.run_options import RunOptions

ArrayLike = npt.ArrayLike
I64 = npt.NDArray[np.int64]

MAX_GENERATION_BYTES = 2 << 30
"""The most memory the messages of a synthetic load may take."""

MESSAGE_ROW_BYTES = 80
"""About what one message costs while a load is generated and run (its traffic columns and
its result row)."""

MAX_TRIALS = 1 << 33
"""The most Bernoulli trials (endpoints x cycles) a load may draw: about ten seconds."""

DEFAULT_WINDOW_CYCLES = (1_000, 10_000)
"""(warm-up, measurement) of a synthetic load given neither ``measure_cycles`` nor ``cycles``."""

PATTERNS = (
    "uniform",
    "transpose",
    "bit_complement",
    "bit_reverse",
    "shuffle",
    "tornado",
    "neighbor",
    "hotspot",
    "permutation",
    "matrix",
)


def destinations(
    pattern: str,
    src: npt.NDArray[np.int64],
    num_endpoints: int,
    rng: Stream,
    dims: Sequence[int] | None = None,
    hotspot: int = 0,
    hotspot_fraction: float = 0.1,
    permutation: npt.NDArray[np.int64] | None = None,
    matrix: ArrayLike | None = None,
    include_self: bool = False,
) -> npt.NDArray[np.int64]:
    """The destination of each source in ``src`` under a synthetic ``pattern``; ``-1`` where the
    pattern maps a node to itself (no packet). ``include_self=True`` keeps those packets, as
    BookSim and Garnet do (on a routed fabric such a packet loops back through its own
    router), and draws ``uniform`` destinations (and ``hotspot``'s uniform part) over all
    endpoints, the source included. Grid patterns (``transpose``, ``tornado``,
    ``neighbor``) use ``dims``; bit patterns need a power-of-two ``num_endpoints``. ``matrix``
    takes a traffic matrix (``num_endpoints`` x ``num_endpoints``, non-negative, zero diagonal):
    row ``i`` holds the relative weights of source ``i``'s destinations; a row of zeros makes
    that source silent."""
    n = num_endpoints
    bits = n.bit_length() - 1
    if pattern in ("bit_complement", "bit_reverse", "shuffle") and 1 << bits != n:
        raise SpecError(f"traffic.pattern: {pattern!r} needs a power-of-two number of endpoints, got {n}")
    if pattern in ("transpose", "tornado", "neighbor") and not dims:
        raise SpecError(f"traffic.pattern: {pattern!r} needs the grid's dims")

    def anywhere() -> npt.NDArray[np.int64]:  # any endpoint, or any other one
        return (src + rng.integers(0 if include_self else 1, n, len(src))) % n

    if pattern == "uniform":
        dst = anywhere()
    elif pattern == "bit_complement":
        dst = ~src & (n - 1)
    elif pattern == "bit_reverse":
        dst = np.zeros_like(src)
        for b in range(bits):
            dst |= ((src >> b) & 1) << (bits - 1 - b)
    elif pattern == "shuffle":
        dst = ((src << 1) | (src >> (bits - 1))) & (n - 1)
    elif pattern in ("transpose", "tornado", "neighbor"):
        assert dims is not None
        coords = np.stack(np.unravel_index(src, tuple(reversed(dims)))[::-1])  # dimension 0 fastest
        k = np.asarray(dims)[:, None]
        if pattern == "transpose":
            coords = coords[::-1]
        elif pattern == "tornado":
            coords = (coords + (k + 1) // 2 - 1) % k
        else:
            coords = (coords + 1) % k
        dst = np.ravel_multi_index(tuple(coords[::-1]), tuple(reversed(dims))).astype(np.int64)
    elif pattern == "hotspot":
        hot = rng.random(len(src)) < hotspot_fraction
        dst = np.where(hot, hotspot, anywhere())
    elif pattern == "permutation":
        perm = permutation if permutation is not None else rng.permutation(n)
        dst = np.asarray(perm, dtype=np.int64)[src]
    elif pattern == "matrix":
        dst = _from_matrix(matrix, src, n, rng)
    else:
        raise SpecError(f"traffic.pattern: unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")
    if include_self:
        return dst.astype(np.int64)
    return np.where(dst == src, -1, dst).astype(np.int64)


def _from_matrix(
    matrix: ArrayLike | None, src: npt.NDArray[np.int64], n: int, rng: Stream
) -> npt.NDArray[np.int64]:
    if matrix is None:
        raise SpecError("traffic.matrix: the 'matrix' pattern needs matrix=", path="traffic.matrix")
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (n, n):
        raise SpecError(
            f"traffic.matrix: must be {n} x {n} (one row per endpoint), got shape {m.shape}",
            path="traffic.matrix",
        )
    bad = np.argwhere(~np.isfinite(m) | (m < 0))
    if len(bad):
        i, j = bad[0]
        raise SpecError(
            f"traffic.matrix[{i}, {j}]: must be finite and >= 0, got {m[i, j]}", path="traffic.matrix"
        )
    hot = np.flatnonzero(np.diag(m))
    if len(hot):
        k = hot[0]
        raise SpecError(
            f"traffic.matrix[{k}, {k}]: the diagonal must be 0, got {m[k, k]}", path="traffic.matrix"
        )
    totals = m.sum(axis=1)
    cdf = np.cumsum(m, axis=1) / np.where(totals > 0, totals, 1.0)[:, None]
    u = rng.random(len(src))
    # One search for all packets: row s of the CDF shifted to [s, s + 1], so source s + u lands
    # in its own row (a zero weight repeats the previous value exactly, so it is never picked).
    shifted = (cdf + np.arange(n)[:, None]).ravel()
    col = np.searchsorted(shifted, src + u, side="right") - src * n
    # u can round past a row's last cumulative weight: clamp to the row's last nonzero column
    last = n - 1 - np.argmax(m[:, ::-1] > 0, axis=1)
    dst = np.minimum(col, last[src])
    return np.where(totals[src] > 0, dst, -1).astype(np.int64)  # silent sources send nothing


Injection = Literal["bernoulli", "periodic"]
"""How a synthetic source spaces its packets: ``"bernoulli"`` (a packet starts in each cycle
with probability ``rate / mean packet flits``) or ``"periodic"`` (one every ``mean flits /
rate`` cycles exactly, each source at its own random phase)."""

PacketFlits = int | Mapping[int, float]
"""A packet size in flits, or a distribution: ``{flits: weight}`` (``{1: 0.8, 5: 0.2}``:
one-flit packets four times as often as five-flit ones)."""


def _sizes(packet_flits: PacketFlits) -> tuple[tuple[int, float], ...]:
    """``packet_flits`` as ``((flits, probability), ...)``, checked."""
    pairs = [(packet_flits, 1.0)] if isinstance(packet_flits, int) else list(packet_flits.items())
    bad = [(k, w) for k, w in pairs if not (isinstance(k, (int, np.integer)) and k >= 1 and w >= 0)]
    total = sum(w for _, w in pairs)
    if not pairs or bad or not total > 0:
        raise SpecError(
            "traffic.packet_flits: a size in flits >= 1, or {flits: weight} with sizes >= 1, weights >= 0 "
            f"and some weight > 0; got {packet_flits!r}"
        )
    return tuple((int(k), float(w) / total) for k, w in sorted(pairs))


def _generate(
    pattern: str,
    num_endpoints: int,
    rate: float,
    cycles: int,
    cycle_ps: float,
    sizes: tuple[tuple[int, float], ...],
    size_bytes: Sequence[int],
    injection: str,
    seed: int,
    dims: Sequence[int] | None,
    pattern_options: dict[str, Any],
) -> MessageTraffic:
    """Synthetic messages: packets of ``sizes`` flits (``size_bytes`` bytes each) at ``rate``
    flits per endpoint per cycle, spaced by ``injection``, sent where ``pattern`` says (``rate``
    and ``injection`` checked by :func:`synthetic`)."""
    n = num_endpoints
    mean_flits = sum(k * p for k, p in sizes)
    packets = cycles * n * rate / mean_flits + 2 * n  # expected (periodic: at most)
    if packets * MESSAGE_ROW_BYTES > MAX_GENERATION_BYTES or cycles * n > MAX_TRIALS:
        raise SpecError(
            f"traffic.measure_cycles: {cycles:,} cycles of {injection} injection on {n} endpoints make about "
            f"{packets:,.0f} packets ({packets * MESSAGE_ROW_BYTES / 2**30:.1f} GiB) from {cycles * n:,} trials; "
            f"at most {MAX_GENERATION_BYTES / 2**30:.0f} GiB and {MAX_TRIALS:,} trials: "
            "use a shorter window (warmup_cycles + measure_cycles)",
            path="traffic.measure_cycles",
        )
    rng = Stream(seed, "synth")
    if injection == "bernoulli":
        # one trial per (cycle, endpoint), cycle-major: a packet starts where it succeeds
        cycle, src = np.divmod(rng.bernoulli_indices(cycles * n, rate / mean_flits), n)
    else:
        # source e starts packets at cycles floor(phase_e + k * period), k = 0, 1, ...
        period = mean_flits / rate  # >= 1: at most one start per cycle
        phase = rng.random(n) * period
        k = np.arange(int(np.ceil(cycles / period)) + 1)
        at = np.floor(phase[:, None] + period * k[None, :]).astype(np.int64)
        who = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], at.shape)
        inside = at < cycles
        at, who = at[inside], who[inside]
        order = np.lexsort((who, at))  # time order, then source (as Bernoulli's rows)
        cycle, src = at[order], who[order]
    dst = destinations(pattern, src.astype(np.int64), n, rng, dims=dims, **pattern_options)
    if len(sizes) > 1:
        which = rng.choice([p for _, p in sizes], len(src))
    else:
        which = np.zeros(len(src), dtype=np.int64)
    keep = dst >= 0
    at_ps = np.rint(cycle[keep] * cycle_ps).astype(np.int64)
    return messages(src[keep], dst[keep], np.asarray(size_bytes, dtype=np.int64)[which[keep]], at_ps=at_ps)


@dataclass(frozen=True)
class SyntheticLoad(Workload):
    """Synthetic traffic sized by the fabric it runs on, with a measurement window (the
    standard NoC methodology): injection for ``warmup_cycles + measure_cycles``, statistics
    over the packets created in the last ``measure_cycles``, then drain. Made by
    :func:`synthetic` without ``num_endpoints``; ``Fabric.run`` builds its messages
    (:meth:`traffic`) and returns a result with ``packet_latency_cycles``, ``offered_rate``,
    ``accepted_rate`` and ``saturated``."""

    pattern: str
    rate: float
    measure_cycles: int
    warmup_cycles: int = 0
    sizes: tuple[tuple[int, float], ...] = ((1, 1.0),)
    """Packet sizes in whole flits and their probabilities."""
    injection: Injection = "bernoulli"
    seed: int = 0
    dims: tuple[int, ...] | None = None
    drain_factor: int = 4
    """The run stops (``saturated``) after ``drain_factor`` times the injection time."""
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def cycles(self) -> int:
        """Cycles of injection: warm-up and measurement."""
        return self.warmup_cycles + self.measure_cycles

    def run_on(self, fabric: Fabric, options: RunOptions) -> Result:
        options.require_messages("a synthetic load's statistics are built from its messages")
        return fabric._run_window(self, options)

    def traffic(
        self,
        num_endpoints: int,
        cycle_ps: float,
        flit_payload_bytes: int,
        packet_overhead_bytes: int,
        mtu_bytes: int,
        grid: Sequence[int] | None = None,
        injection_vcs: int = 1,
    ) -> MessageTraffic:
        """The messages on a fabric of ``num_endpoints`` whose link has this cycle, flit
        payload, packet overhead and MTU: each a packet of whole flits; grid patterns use
        ``dims``, else the fabric's ``grid`` (a mesh's, torus's or ring's). Each source's
        packets take the ``injection_vcs`` VCs a fresh packet may enter on in turn (its
        first routing class's share), as a BookSim source spreads its packets over the free
        VCs: on one VC, a router that routes, allocates and switches in separate stages
        serves a source's 1-flit packets at most one per three cycles."""
        size_bytes = []
        for flits, _ in self.sizes:
            b = flits * flit_payload_bytes - packet_overhead_bytes
            if not 1 <= b <= mtu_bytes:
                raise SpecError(
                    f"traffic.packet_flits: a packet of {flits} flits of {flit_payload_bytes} B carries {b} B "
                    f"after the link's {packet_overhead_bytes} B of packet overhead; it must carry 1..{mtu_bytes} "
                    f"(up to the link's mtu_bytes, so that it stays one packet): for {flits}-flit packets give the "
                    f"fabric a link with mtu_bytes >= {max(b, 1)}, e.g. link=fs.LinkSpec.preset(...).replace("
                    f"mtu_bytes={max(b, 1)}) (the noc preset's 16 B MTU carries 1-flit packets)"
                )
            size_bytes.append(b)
        traffic = _generate(
            self.pattern,
            num_endpoints,
            self.rate,
            self.cycles,
            cycle_ps,
            self.sizes,
            size_bytes,
            self.injection,
            self.seed,
            self.dims if self.dims is not None else grid,
            dict(self.options),
        )
        return spread_over_vcs(traffic, injection_vcs)


def spread_over_vcs(traffic: MessageTraffic, vcs: int) -> MessageTraffic:
    """``traffic`` with each source's messages on VCs ``0, 1, ..., vcs - 1, 0, ...`` in the
    order they are created (their order in ``traffic``)."""
    if vcs <= 1 or len(traffic.src) == 0:
        return traffic
    order = np.argsort(traffic.src, kind="stable")
    src_sorted = traffic.src[order]
    starts = np.flatnonzero(np.r_[True, src_sorted[1:] != src_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(src_sorted)])
    nth = np.arange(len(src_sorted)) - np.repeat(starts, counts)
    vc = np.empty(len(traffic.src), dtype=np.int64)
    vc[order] = nth % vcs
    return MessageTraffic(
        src=traffic.src, dst=traffic.dst, bytes=traffic.bytes, inject_ps=traffic.inject_ps, vc=vc
    )


@overload
def synthetic(
    pattern: str,
    num_endpoints: int,
    rate: float,
    cycles: int,
    cycle_ps: float,
    packet_bytes: int,
    packet_flits: int = 1,
    seed: int = 0,
    dims: Sequence[int] | None = None,
    *,
    injection: Injection = "bernoulli",
    **pattern_options: Any,
) -> MessageTraffic: ...


@overload
def synthetic(
    pattern: str,
    *,
    rate: float,
    measure_cycles: int | None = None,
    warmup_cycles: int | None = None,
    packet_flits: PacketFlits = 1,
    injection: Injection = "bernoulli",
    seed: int = 0,
    dims: Sequence[int] | None = None,
    drain_factor: int = 4,
    **pattern_options: Any,
) -> SyntheticLoad: ...


def synthetic(
    pattern: str,
    num_endpoints: int | None = None,
    rate: float | None = None,
    cycles: int | None = None,
    cycle_ps: float | None = None,
    packet_bytes: int | None = None,
    packet_flits: PacketFlits = 1,
    seed: int = 0,
    dims: Sequence[int] | None = None,
    *,
    injection: Injection = "bernoulli",
    measure_cycles: int | None = None,
    warmup_cycles: int | None = None,
    drain_factor: int = 4,
    **pattern_options: Any,
) -> MessageTraffic | SyntheticLoad:
    """Synthetic traffic: each endpoint starts packets of ``packet_bytes`` (``packet_flits``
    flits) at ``rate`` flits per endpoint per cycle, for ``cycles`` cycles of ``cycle_ps``, to
    the destination ``pattern`` gives (see :func:`destinations`). ``injection="bernoulli"``
    (default) starts one in each cycle with probability ``rate / packet_flits``;
    ``"periodic"`` one every ``packet_flits / rate`` cycles, each source at its own random
    phase. Rows are in time order. Pattern options go to :func:`destinations`;
    ``include_self=True`` keeps the packets a pattern sends to their own source (BookSim's
    convention: 1/N of uniform traffic loops back through the source's router).

    Without ``num_endpoints`` (``synthetic("uniform", rate=0.2, warmup_cycles=1000,
    measure_cycles=4000)``): a :class:`SyntheticLoad` that the fabric sizes when it runs it
    (its endpoints, its link's cycle, packets of ``packet_flits`` whole flits), measured over a
    window after a warm-up (by default, without ``measure_cycles``: 1,000 cycles of warm-up,
    then 10,000 measured; with it, no warm-up unless ``warmup_cycles``). Its ``packet_flits``
    may be a distribution, ``{flits: weight}``."""
    if rate is None:
        raise SpecError("traffic.rate: missing; give the offered load in flits/endpoint/cycle, in (0, 1]")
    if not 0 < rate <= 1:
        raise SpecError(f"traffic.rate: must be in (0, 1] flits/endpoint/cycle, got {rate}")
    if injection not in ("bernoulli", "periodic"):
        raise SpecError(f"traffic.injection: 'bernoulli' or 'periodic', got {injection!r}")
    sizes = _sizes(packet_flits)
    if num_endpoints is None:
        if cycle_ps is not None or packet_bytes is not None:
            raise SpecError(
                "traffic: cycle_ps and packet_bytes come from the fabric when num_endpoints is left out "
                "(packets are packet_flits whole flits of its link); give all three or none"
            )
        measure = measure_cycles if measure_cycles is not None else cycles
        if warmup_cycles is None:
            warmup_cycles = DEFAULT_WINDOW_CYCLES[0] if measure is None else 0
        if measure is None:
            measure = DEFAULT_WINDOW_CYCLES[1]
        if measure < 1 or warmup_cycles < 0:
            raise SpecError(
                f"traffic.measure_cycles: need a window of at least 1 cycle (and warmup_cycles >= 0), got "
                f"measure_cycles={measure}, warmup_cycles={warmup_cycles}"
            )
        if drain_factor < 1:
            raise SpecError(f"traffic.drain_factor: must be >= 1, got {drain_factor}")
        return SyntheticLoad(
            pattern,
            float(rate),
            int(measure),
            int(warmup_cycles),
            sizes,
            injection,
            int(seed),
            None if dims is None else tuple(int(d) for d in dims),
            int(drain_factor),
            tuple(sorted(pattern_options.items())),
        )
    if cycles is None or cycle_ps is None or packet_bytes is None:
        raise SpecError(
            "traffic: with num_endpoints, give cycles, cycle_ps and packet_bytes too (or leave all four out "
            "for a load the fabric sizes, with measure_cycles)"
        )
    if measure_cycles is not None or warmup_cycles is not None:
        raise SpecError(
            "traffic.measure_cycles: a measurement window needs the fabric to size the traffic; leave out "
            "num_endpoints, cycles, cycle_ps and packet_bytes"
        )
    if len(sizes) > 1:
        raise SpecError(
            "traffic.packet_flits: a size distribution needs the fabric to turn flits into bytes; leave out "
            "num_endpoints, cycles, cycle_ps and packet_bytes (and give measure_cycles)"
        )
    return _generate(
        pattern,
        num_endpoints,
        rate,
        cycles,
        cycle_ps,
        sizes,
        [packet_bytes],
        injection,
        seed,
        dims,
        pattern_options,
    )


__all__ = [
    "DEFAULT_WINDOW_CYCLES",
    "PATTERNS",
    "Injection",
    "PacketFlits",
    "SyntheticLoad",
    "destinations",
    "synthetic",
]
