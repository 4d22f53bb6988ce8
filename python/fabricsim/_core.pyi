"""Native engine of fabricsim (Rust). Private: use the ``fabricsim`` package API."""

from typing import Any

__all__ = [
    "__version__",
    "link_message_flits",
    "link_preset_names",
    "link_preset_toml",
    "link_resolve",
    "run_messages",
    "spec_from_toml",
    "spec_normalize",
    "spec_to_toml",
    "spec_warnings",
]

__version__: str

def spec_normalize(kind: str, json: str) -> str: ...
def spec_from_toml(kind: str, text: str, origin: str) -> str: ...
def spec_to_toml(kind: str, json: str) -> str: ...
def spec_warnings(kind: str, json: str) -> list[str]: ...
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
