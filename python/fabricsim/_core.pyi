"""Native engine of fabricsim (Rust). Private: use the ``fabricsim`` package API."""

from typing import Any, final

__all__ = [
    "CoreSimulation",
    "__version__",
    "check_deadlock_freedom",
    "fabric_endpoints",
    "fabric_preset_names",
    "fabric_preset_toml",
    "hbm_preset_names",
    "hbm_preset_toml",
    "hbm_resolve",
    "link_message_flits",
    "link_preset_names",
    "link_preset_toml",
    "link_resolve",
    "run_collective",
    "run_memory",
    "spec_from_toml",
    "spec_normalize",
    "spec_to_toml",
    "spec_warnings",
]

__version__: str

def check_deadlock_freedom(fabric_json: str) -> dict[str, Any] | None: ...
def spec_normalize(kind: str, json: str) -> str: ...
def spec_from_toml(kind: str, text: str, origin: str) -> str: ...
def spec_to_toml(kind: str, json: str) -> str: ...
def spec_warnings(kind: str, json: str) -> list[str]: ...
def fabric_preset_names() -> list[str]: ...
def fabric_preset_toml(name: str) -> str: ...
def fabric_endpoints(json: str) -> int: ...
def hbm_preset_names() -> list[str]: ...
def hbm_preset_toml(name: str) -> str: ...
def hbm_resolve(json: str) -> dict[str, Any]: ...
def link_preset_names() -> list[str]: ...
def link_preset_toml(name: str) -> str: ...
def link_resolve(json: str) -> dict[str, Any]: ...
def link_message_flits(json: str, bytes: int) -> int: ...
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
