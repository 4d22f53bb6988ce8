"""Native engine of fabricsim (Rust). Private: use the ``fabricsim`` package API."""

from collections.abc import Callable
from typing import Any, final

__all__ = [
    "CoreSimulation",
    "RandomStream",
    "__version__",
    "check_deadlock_freedom",
    "fabric_endpoints",
    "fabric_injection_vcs",
    "fabric_link_directions",
    "fabric_preset_names",
    "fabric_preset_toml",
    "hbm_preset_names",
    "hbm_preset_toml",
    "hbm_resolve",
    "link_counter_columns",
    "link_message_flits",
    "link_preset_names",
    "link_preset_toml",
    "link_resolve",
    "plan_schedule",
    "protocol_preset_names",
    "protocol_preset_toml",
    "router_preset_names",
    "router_preset_toml",
    "run_collective",
    "run_memory",
    "run_memory_fabric",
    "run_messages",
    "set_progress",
    "spec_from_toml",
    "spec_normalize",
    "spec_to_toml",
    "spec_warnings",
    "stack_total_columns",
    "toml_loads",
    "verify_schedule",
]

__version__: str

def set_progress(
    callback: Callable[[int, int, int], object] | None,
) -> Callable[[int, int, int], object] | None: ...
def check_deadlock_freedom(fabric_json: str) -> dict[str, Any] | None: ...
def spec_normalize(kind: str, json: str) -> str: ...
def spec_from_toml(kind: str, text: str, origin: str) -> str: ...
def spec_to_toml(kind: str, json: str) -> str: ...
def spec_warnings(kind: str, json: str) -> list[str]: ...
def fabric_preset_names() -> list[str]: ...
def fabric_preset_toml(name: str) -> str: ...
def fabric_link_directions(json: str) -> int: ...
def fabric_endpoints(json: str) -> int: ...
def fabric_injection_vcs(json: str) -> int: ...
def hbm_preset_names() -> list[str]: ...
def hbm_preset_toml(name: str) -> str: ...
def hbm_resolve(json: str) -> dict[str, Any]: ...
def protocol_preset_names() -> list[str]: ...
def protocol_preset_toml(name: str) -> str: ...
def router_preset_names() -> list[str]: ...
def router_preset_toml(name: str) -> str: ...
def run_memory_fabric(spec_json: str, load_json: str, options_json: str) -> dict[str, Any]: ...
def link_counter_columns() -> list[tuple[str, str]]: ...
def stack_total_columns() -> list[tuple[str, str]]: ...
def link_preset_names() -> list[str]: ...
def link_preset_toml(name: str) -> str: ...
def link_resolve(json: str) -> dict[str, Any]: ...
def link_message_flits(json: str, bytes: int) -> int: ...
def run_messages(
    fabric_json: str,
    options_json: str,
    src: bytes,
    dst: bytes,
    nbytes: bytes,
    inject_ps: bytes,
    vc: bytes,
) -> dict[str, Any]: ...
def verify_schedule(
    kind: str,
    ranks: int,
    helpers: int,
    pieces: int,
    root: int,
    columns: list[bytes],
    match_only: bool,
) -> tuple[bytes, tuple[int, str] | None]: ...
def plan_schedule(
    moves: list[bytes], piece_bytes: bytes, ranks: int, scratch_base: int
) -> dict[str, bytes]: ...
def run_collective(
    fabric_json: str,
    options_json: str,
    op: bytes,
    rank: bytes,
    peer: bytes,
    nbytes: bytes,
    matched: bytes,
    dep_ptr: bytes,
    deps: bytes,
    reduce_ps_per_byte: float,
    copy_ps_per_byte: float,
    delay_ps: bytes,
    wire_bytes_per_byte: float,
    memory_json: str | None,
) -> dict[str, Any]: ...
def run_memory(
    hbm_json: str,
    controller_json: str,
    options_json: str,
    addr: bytes,
    nbytes: bytes,
    write: bytes,
    arrival: bytes,
    outstanding: int,
    record_commands: bool,
) -> dict[str, Any]: ...

@final
class RandomStream:
    def __new__(cls, seed: int, kind: int, index: int) -> RandomStream: ...
    def floats(self, count: int) -> bytes: ...
    def integers_below(self, n: int, count: int) -> bytes: ...
    def bernoulli_indices(self, count: int, p: float) -> bytes: ...

@final
class CoreSimulation:
    def __new__(
        cls,
        fabric_json: str,
        options_json: str,
        src: bytes,
        dst: bytes,
        nbytes: bytes,
        inject_ps: bytes,
        vc: bytes,
    ) -> CoreSimulation: ...
    def step(self, cycles: int) -> None: ...
    @property
    def cycle(self) -> int: ...
    @property
    def time_ps(self) -> int: ...
    def delivered(self) -> int: ...
    def state(self) -> list[dict[str, Any]]: ...
    def inject(self, src: int, dst: int, nbytes: int, vc: int) -> int: ...
    def inject_fault(self, fault_json: str) -> None: ...
    def finish(self) -> dict[str, Any]: ...
    def partial(self) -> dict[str, Any]: ...

def toml_loads(text: str, origin: str) -> str: ...
