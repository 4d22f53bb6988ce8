"""Experiment files: a fabric, a workload, run options and what to write, in one TOML file that
``fabricsim run FILE`` runs and ``fabricsim sweep FILE`` sweeps (docs/experiments.md).

    [fabric]
    preset = "dgx8_nvswitch"          # or file = "my_fabric.toml" (relative to this file)

    [workload]
    kind = "collective"               # collective | synthetic | messages | memory | training_step | trace
    collective = "all_reduce"
    bytes = "64MiB"

    [options]                         # fs.RunOptions fields
    seed = 0

    [output]
    directory = "out"                 # relative to this file
    tables = "csv"                    # csv | parquet | json | none
    summary = "summary.json"
    timeline = "trace.json"           # Chrome / Perfetto trace (optional)
    plot = "plot.png"                 # run: a collective's link map; sweep: a metric against the values

    [sweep]                           # fabricsim sweep only
    parameter = "workload.bytes"
    values = ["1MiB", "4MiB", "16MiB"]

Errors name the file, the field and its line.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from fabricsim import _core, collectives, faults, traffic
from fabricsim.analysis.sweep import sizes
from fabricsim.errors import SpecError
from fabricsim.fabric import Fabric
from fabricsim.run_contract import RunResultBase, Workload
from fabricsim.run_options import RunOptions
from fabricsim.workload import Parallelism, Trace, Transformer, training_step

SECTIONS = ("fabric", "workload", "options", "output", "sweep")
KINDS = ("collective", "synthetic", "messages", "memory", "training_step", "trace")
TABLE_FORMATS = ("csv", "parquet", "json", "none")


class ExperimentError(SpecError):
    """A field of an experiment file is wrong: the message names the file, the field, its
    line and what is allowed."""


@dataclass(frozen=True)
class Experiment:
    """An experiment file, read and checked (not yet run)."""

    path: Path
    text: str
    data: dict[str, Any]

    def error(self, field: str, message: str) -> ExperimentError:
        line = line_of(self.text, field)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ExperimentError(f"{where}: {field}: {message}", path=field)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self.error(name, f"must be a table ([{name}]), got {value!r}")
        return value

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.section(section).get(key, default)


def line_of(text: str, field: str) -> int | None:
    """The line (1-based) of ``field`` (``section.key``, or a section) in TOML ``text``."""
    section, _, key = field.partition(".")
    current = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = re.match(r"^\[([^\]]+)\]$", line)
        if header:
            current = header.group(1).strip()
            if not key and current == section:
                return n
            continue
        if key and current == section and re.match(rf"^{re.escape(key.split('.')[0])}\s*=", line):
            return n
    return None


def load(path: str | Path) -> Experiment:
    """Reads and checks the file's sections (unknown ones are errors, with their line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ExperimentError(f"{p}: cannot read: {e.strerror}", path="experiment") from None
    try:
        data = json.loads(_core.toml_loads(text, str(p)))
    except SpecError as e:
        raise ExperimentError(str(e).replace("\n", " "), path="experiment") from None
    exp = Experiment(p, text, data)
    for name in data:
        if name not in SECTIONS:
            raise exp.error(name, f"unknown section; allowed: {', '.join(SECTIONS)}")
    for needed in ("fabric", "workload"):
        if needed not in data:
            raise ExperimentError(f"{p}: [{needed}] is missing", path=needed)
    return exp


def build_fabric(exp: Experiment) -> Fabric:
    spec = exp.section("fabric")
    unknown = sorted(set(spec) - {"preset", "file", "nodes"})
    if unknown:
        raise exp.error(f"fabric.{unknown[0]}", "unknown field; allowed: preset, file, nodes")
    if ("preset" in spec) == ("file" in spec):
        raise exp.error("fabric", "give exactly one of preset (a name) or file (a fabric TOML)")
    try:
        if "preset" in spec:
            return Fabric.preset(str(spec["preset"]), nodes=spec.get("nodes"))
        return Fabric.from_toml(exp.path.parent / str(spec["file"]))
    except SpecError as e:
        field = "fabric.preset" if "preset" in spec else "fabric.file"
        raise exp.error(field, str(e)) from None


def _size(exp: Experiment, field: str, value: Any) -> int:
    try:
        return sizes(value, value)[0]
    except SpecError as e:
        raise exp.error(field, str(e).split(": ", 1)[-1]) from None


def _call(exp: Experiment, field: str, make: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return make(**kwargs)
    except SpecError as e:
        inner = e.path or ""
        name = f"workload.{inner}" if inner and not inner.startswith("traffic.") else field
        message = str(e)
        if inner and message.startswith(f"{inner}: "):
            message = message[len(inner) + 2 :]
        raise exp.error(name, message) from None
    except TypeError as e:
        raise exp.error(field, str(e)) from None


def build_workload(exp: Experiment, fabric: Fabric) -> Workload:
    w = dict(exp.section("workload"))
    kind = w.pop("kind", None)
    if kind not in KINDS:
        raise exp.error("workload.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "collective":
        name = w.pop("collective", "all_reduce")
        make = getattr(collectives, str(name), None)
        if name not in collectives.ALGORITHMS or make is None:
            raise exp.error(
                "workload.collective", f"must be one of {', '.join(collectives.ALGORITHMS)}, got {name!r}"
            )
        if "bytes" not in w:
            raise exp.error("workload.bytes", 'is missing (the buffer size per rank, e.g. "64MiB")')
        w["bytes"] = _size(exp, "workload.bytes", w["bytes"])
        workload: Workload = _call(exp, "workload", make, **w)
        return workload
    if kind == "synthetic":
        workload = _call(exp, "workload", traffic.synthetic, **w)
        return workload
    if kind == "training_step":
        return _training_step(exp, w)
    if kind == "trace":
        file = w.pop("file", None)
        if file is None or w:
            raise exp.error("workload.file", "a trace takes file only (a JSON DAG, docs/training.md)")
        return _call(exp, "workload.file", Trace.from_json, path=exp.path.parent / str(file))  # type: ignore[no-any-return]
    if kind == "messages":
        file = w.pop("file", None)
        if file is None:
            raise exp.error(
                "workload.file", "is missing (a CSV or Parquet file of src, dst, bytes[, at_ns, vc])"
            )
        return read_messages(exp, exp.path.parent / str(file))
    # memory
    hbm = w.pop("hbm", None)
    if hbm is not None:
        raise exp.error(
            "workload.hbm", "memory loads run on the fabric's memory; give a fabric preset with memory"
        )
    workload = _call(exp, "workload", traffic.loads, **w)
    return workload


def _training_step(exp: Experiment, w: dict[str, Any]) -> Workload:
    """``model`` (a preset name or a table of Transformer fields), ``gpu`` (a preset name),
    ``[workload.plan]`` (Parallelism fields), ``gpu_speed`` (a table rank = factor),
    ``check_memory`` and ``fault_windows``."""
    allowed = {"model", "gpu", "plan", "gpu_speed", "check_memory", "fault_windows"}
    unknown = sorted(set(w) - allowed)
    if unknown:
        raise exp.error(f"workload.{unknown[0]}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
    model = w.get("model")
    if model is None:
        raise exp.error("workload.model", "is missing (a preset name, or a [workload.model] table)")
    if isinstance(model, dict):
        model = _call(exp, "workload.model", Transformer, **model)
    plan = w.get("plan")
    if not isinstance(plan, dict):
        raise exp.error(
            "workload.plan", "is missing (a [workload.plan] table: tp, pp, dp, global_batch, ...)"
        )
    plan_obj = _call(exp, "workload.plan", Parallelism, **plan)
    speed = w.get("gpu_speed")
    if speed is not None:
        if not isinstance(speed, dict):
            raise exp.error("workload.gpu_speed", "must be a table of rank = factor")
        try:
            speed = {int(k): v for k, v in speed.items()}
        except ValueError:
            raise exp.error("workload.gpu_speed", "keys must be ranks (integers)") from None
    step: Workload = _call(
        exp,
        "workload",
        training_step,
        model=model,
        plan=plan_obj,
        gpu=w.get("gpu", "h100_sxm"),
        gpu_speed=speed,
        check_memory=w.get("check_memory", True),
        fault_windows=w.get("fault_windows", "auto"),
    )
    return step


def read_messages(exp: Experiment, path: Path) -> Workload:
    """Messages from a CSV (header row: src, dst, bytes, and optionally at_ns, vc) or a
    Parquet file (needs pyarrow) with those columns."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError:
            raise exp.error("workload.file", "a Parquet file needs pyarrow (pip install pyarrow)") from None
        table = pq.read_table(path)
        cols = {name: np.asarray(table.column(name)) for name in table.column_names}
    else:
        try:
            data = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
        except OSError as e:
            raise exp.error("workload.file", f"cannot read {path}: {e}") from None
        cols = {name: np.atleast_1d(data[name]) for name in data.dtype.names or ()}
    missing = [c for c in ("src", "dst", "bytes") if c not in cols]
    if missing:
        raise exp.error(
            "workload.file", f"{path} lacks column(s) {missing}; needs src, dst, bytes[, at_ns, vc]"
        )
    workload: Workload = _call(
        exp,
        "workload.file",
        traffic.messages,
        src=cols["src"].astype(np.int64),
        dst=cols["dst"].astype(np.int64),
        bytes=cols["bytes"].astype(np.int64),
        at_ns=cols["at_ns"].astype(np.float64) if "at_ns" in cols else 0,
        vc=cols["vc"].astype(np.int64) if "vc" in cols else 0,
    )
    return workload


def build_options(exp: Experiment) -> RunOptions:
    opts = exp.section("options")
    allowed = [f.name for f in fields(RunOptions)]
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise exp.error(f"options.{unknown[0]}", f"unknown run option; allowed: {', '.join(allowed)}")
    if "faults" in opts:
        plan = opts["faults"]
        if not isinstance(plan, list):
            raise exp.error("options.faults", "must be a list of tables ([[options.faults]])")
        opts = {**opts, "faults": [build_fault(exp, i, f) for i, f in enumerate(plan)]}
    try:
        return RunOptions(**opts)
    except SpecError as e:
        field = (e.path or "").removeprefix("options.")
        raise exp.error(f"options.{field}" if field else "options", str(e)) from None
    except TypeError as e:
        raise exp.error("options", f"{e}; allowed: {', '.join(allowed)}") from None


def build_fault(exp: Experiment, i: int, spec: Any) -> faults.Fault:
    """One ``[[options.faults]]`` table: ``type`` names a ``fabricsim.faults`` function, the
    other keys are its arguments (``type = "link_failed"``, ``link = 3``)."""
    kinds = [k for k in faults.__all__ if k != "Fault"]
    path = f"options.faults[{i}]"
    if not isinstance(spec, dict) or spec.get("type") not in kinds:
        got = spec.get("type") if isinstance(spec, dict) else spec
        raise exp.error(f"{path}.type", f"must be one of {', '.join(kinds)}, got {got!r}")
    build = getattr(faults, spec["type"])
    args = {k: v for k, v in spec.items() if k != "type"}
    try:
        inspect.signature(build).bind(**args)
    except TypeError as e:
        params = ", ".join(inspect.signature(build).parameters)
        raise exp.error(path, f"{e}; {spec['type']} takes {params}") from None
    fault: faults.Fault = build(**args)
    return fault


def write_outputs(exp: Experiment, result: RunResultBase, suffix: str = "") -> list[Path]:
    """Writes the result's tables and summary where ``[output]`` says; returns the files."""
    out = exp.section("output")
    allowed = ("directory", "tables", "summary", "timeline", "timeline_max_events", "plot", "plot_metric")
    unknown = sorted(set(out) - set(allowed))
    if unknown:
        raise exp.error(f"output.{unknown[0]}", f"unknown field; allowed: {', '.join(allowed)}")
    fmt = out.get("tables", "csv")
    if fmt not in TABLE_FORMATS:
        raise exp.error("output.tables", f"must be one of {', '.join(TABLE_FORMATS)}, got {fmt!r}")
    directory = exp.path.parent / str(out.get("directory", exp.path.stem + "_out"))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    if fmt != "none":
        for name, table in result.tables().items():
            target = directory / f"{name}{suffix}.{fmt}"
            write_table(table, target, fmt, exp)
            written.append(target)
    timeline = out.get("timeline")
    if timeline:
        trace = Path(str(timeline))
        target = directory / (trace.stem + suffix + (trace.suffix or ".json"))
        try:
            result.to_perfetto(target, max_events=out.get("timeline_max_events", 1_000_000))
        except SpecError as e:
            raise exp.error("output.timeline_max_events", str(e)) from None
        written.append(target)
    plot = out.get("plot")
    if plot and not suffix.startswith("_"):  # a sweep plots the metric against the parameter instead
        plot_links = getattr(result, "plot_links", None)
        if plot_links is None:
            raise exp.error(
                "output.plot",
                "a run's plot is a collective's link heat map; for other workloads declare a [sweep] "
                "and plot a metric against it (fabricsim sweep)",
            )
        written.append(plot_links(directory / str(plot)))
    summary = out.get("summary", "summary.json")
    if summary:
        target = directory / (Path(str(summary)).stem + suffix + Path(str(summary)).suffix)
        target.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        written.append(target)
    return written


def write_table(table: np.ndarray, target: Path, fmt: str, exp: Experiment) -> None:
    names = table.dtype.names or ()
    if fmt == "csv":
        with target.open("w", encoding="utf-8") as f:
            f.write(",".join(names) + "\n")
            for row in table.tolist():
                f.write(",".join(str(v) for v in row) + "\n")
    elif fmt == "json":
        target.write_text(json.dumps({n: table[n].tolist() for n in names}) + "\n")
    else:
        try:
            import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
            import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError:
            raise exp.error(
                "output.tables", "parquet needs pyarrow (pip install pyarrow); use csv or json"
            ) from None
        pq.write_table(pa.table({n: table[n] for n in names}), target)


def run(path: str | Path) -> tuple[RunResultBase, list[Path]]:
    """Runs the experiment file at ``path``: its result and the files it wrote."""
    exp = load(path)
    fabric = build_fabric(exp)
    workload = build_workload(exp, fabric)
    result = fabric.run(workload, build_options(exp))
    return result, write_outputs(exp, result)


def set_field(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``section.key`` (or ``section.table.key``) set to ``value``."""
    copy = copy_tables(data)
    node = copy
    *path, key = dotted.split(".")
    for part in path:
        node = node.setdefault(part, {})
    node[key] = value
    return copy


def copy_tables(data: dict[str, Any]) -> dict[str, Any]:
    return {k: copy_tables(v) if isinstance(v, dict) else v for k, v in data.items()}


def sweep(path: str | Path) -> list[tuple[Any, RunResultBase]]:
    """Runs the experiment once per value of ``[sweep] values`` set at ``[sweep] parameter``
    (``section.key``, or ``section.table.key`` as ``workload.plan.tp``); writes each run's outputs with the value's index as suffix and a
    ``sweep.json`` of every run's summary."""
    exp = load(path)
    spec = exp.section("sweep")
    parameter, values = spec.get("parameter"), spec.get("values")
    if not isinstance(parameter, str) or "." not in parameter:
        raise exp.error(
            "sweep.parameter", f"must name a field as section.key (e.g. workload.bytes), got {parameter!r}"
        )
    if parameter.split(".")[0] not in ("fabric", "workload", "options"):
        raise exp.error("sweep.parameter", "must be a field of [fabric], [workload] or [options]")
    if not isinstance(values, list) or not values:
        raise exp.error("sweep.values", f"must be a non-empty list, got {values!r}")
    runs = []
    for i, value in enumerate(values):
        one = Experiment(exp.path, exp.text, set_field(exp.data, parameter, value))
        fabric = build_fabric(one)
        result = fabric.run(build_workload(one, fabric), build_options(one))
        write_outputs(one, result, suffix=f"_{i}")
        runs.append((value, result))
    out = exp.section("output")
    directory = exp.path.parent / str(out.get("directory", exp.path.stem + "_out"))
    rows = [{"parameter": parameter, "value": v, **r.to_dict()} for v, r in runs]
    (directory / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    if out.get("plot"):
        plot_sweep(exp, rows, parameter, directory / str(out["plot"]), out.get("plot_metric"))
    return runs


PLOT_METRICS = (
    "busbw_gbyte_per_s",
    "step_time_s",
    "time_us",
    "accepted_rate",
    "latency_mean_cycles",
    "bandwidth_gbyte_per_s",
)
"""What a sweep plots by default: the first of these its runs report."""


def plot_sweep(
    exp: Experiment, rows: list[dict[str, Any]], parameter: str, target: Path, metric: Any
) -> Path:
    """A PNG of ``metric`` (a key of the runs' summaries) against the swept values."""
    from fabricsim.analysis.sweep import _plot_lines

    numeric = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if metric is None:
        metric = next((m for m in PLOT_METRICS if m in numeric), None)
    if metric not in numeric:
        raise exp.error(
            "output.plot_metric", f"must be a number the runs report: {', '.join(numeric)}; got {metric!r}"
        )
    xs = []
    for i, row in enumerate(rows):
        v = row["value"]
        xs.append(
            float(sizes(v, v)[0])
            if isinstance(v, str)
            else float(v)
            if isinstance(v, (int, float))
            else float(i)
        )
    ys = [float(row[metric]) for row in rows]
    _plot_lines(target, [(None, xs, ys)], parameter, metric, exp.path.stem)
    return target


__all__ = ["Experiment", "ExperimentError", "line_of", "load", "run", "sweep"]
