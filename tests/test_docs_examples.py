"""Every Python example in README.md and docs/*.md runs as written: an example the API has
drifted away from fails here, naming the file and line of its block.

A file's blocks run in order in one namespace (a block may use what an earlier one made),
which starts with ``import fabricsim as fs`` and ``import numpy as np``, in a scratch
directory holding the files the examples read. What the fence says after ``python``:

- nothing: runs in ``make test``;
- ``slow``: real sizes that take minutes; runs when ``FABRICSIM_DOCS=all`` (``make fuzz``);
- ``fragment``: not runnable alone (a placeholder, or a condensed test whose full form the
  text names); only parsed here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    p
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if "```python" in p.read_text(encoding="utf-8")
]
RUN_SLOW = os.environ.get("FABRICSIM_DOCS") == "all"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)
TAGS = {"", "slow", "fragment"}

# Files the examples read, as a user would have them.
INPUTS = {
    "app.trace": "# address, command, cycle (DRAMsim3's trace format)\n"
    "0x1f40 READ 120\n0x2000 WRITE 130\n0x1f80 READ 131\n",
}


@dataclass(frozen=True)
class Block:
    line: int  # of the code's first line in the file
    tag: str
    code: str


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(text.count("\n", 0, m.start(2)) + 1, m.group(1).strip(), m.group(2))
        for m in FENCE.finditer(text)
    ]


def test_every_block_parses_has_a_known_tag_and_some_run_in_make_test():
    found = {p.name: blocks(p) for p in DOCS}
    for name, bs in found.items():
        for b in bs:
            assert b.tag in TAGS, f"{name}:{b.line}: unknown fence tag {b.tag!r}, allowed {sorted(TAGS)}"
            # every block is valid Python, fragments and slow ones included (raises SyntaxError)
            compile(b.code, f"{name}:{b.line}", "exec")
    fast = sum(b.tag == "" for bs in found.values() for b in bs)
    assert fast >= 8, f"only {fast} examples run in make test"
    assert any(b.tag == "" for b in found["README.md"])


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_examples_run_as_written(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    todo = [b for b in blocks(path) if b.tag == "" or (b.tag == "slow" and RUN_SLOW)]
    if not todo:
        pytest.skip(f"{path.name}: no example runs in this mode (FABRICSIM_DOCS=all runs the slow ones)")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    for name, text in INPUTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    exec("import fabricsim as fs\nimport numpy as np", namespace)
    for b in todo:
        # (leading newlines: a traceback names the line in the Markdown file)
        code = compile("\n" * (b.line - 1) + b.code, str(path.relative_to(ROOT)), "exec")
        try:
            exec(code, namespace)
        except Exception as e:
            pytest.fail(f"{path.name}:{b.line}: the example raised {type(e).__name__}: {e}")
