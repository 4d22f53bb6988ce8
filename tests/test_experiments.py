"""`fabricsim run` / `fabricsim sweep` on experiment files: the examples run as shipped, what
they write matches the Python API's result, and bad files get one line naming file, field
and line."""

import json
import shutil
from pathlib import Path

import pytest

import fabricsim as fs
from fabricsim.cli.experiment import ExperimentError, line_of, run, sweep
from fabricsim.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RUNNABLE = sorted(p.name for p in EXAMPLES.glob("*.toml") if "[workload]" in p.read_text())


@pytest.fixture
def examples(tmp_path):
    for p in EXAMPLES.iterdir():
        if p.is_file():
            shutil.copy(p, tmp_path / p.name)
    return tmp_path


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_example_runs_and_writes_what_it_names(examples, name, capsys):
    assert main(["run", str(examples / name)]) == 0
    out = capsys.readouterr().out
    written = [Path(line.removeprefix("wrote ")) for line in out.splitlines() if line.startswith("wrote ")]
    assert written and all(p.exists() and p.stat().st_size > 0 for p in written)
    summary = json.loads(next(p for p in written if p.name == "summary.json").read_text())
    assert summary["complete"] is True


def test_a_run_matches_the_python_api(examples):
    result, written = run(examples / "allreduce_dgx8.toml")
    direct = fs.Fabric.preset("dgx8_nvswitch").run(fs.collectives.all_reduce(bytes=4 << 20), seed=0)
    assert result.time_ns == direct.time_ns and result.protocol == direct.protocol
    ops = next(p for p in written if p.name == "operations.csv").read_text().splitlines()
    assert ops[0] == "op,rank,peer,bytes,start_ns,finish_ns" and len(ops) == len(direct.schedule.op) + 1


def test_a_sweep_runs_every_value_and_keeps_each_runs_files(examples, capsys):
    runs = sweep(examples / "allreduce_dgx8.toml")
    assert [v for v, _ in runs] == ["64KiB", "1MiB", "4MiB"]
    times = [r.time_ns for _, r in runs]
    assert times == sorted(times)
    out = examples / "allreduce_dgx8_out"
    table = json.loads((out / "sweep.json").read_text())
    assert [row["value"] for row in table] == ["64KiB", "1MiB", "4MiB"]
    assert (out / "summary_2.json").exists()
    assert main(["sweep", str(examples / "mesh_uniform.toml")]) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[fabric]\npreset = "dgx9"\n[workload]\nkind = "collective"\nbytes = 1024\n',
            r":2: fabric\.preset: .*dgx9",
        ),
        (
            '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "collective"\nbytes = "1MiX"\n',
            r":5: workload\.bytes: must be a size",
        ),
        (
            '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "collective"\nbytes = 1024\nalgorithm = "rung"\n',
            r":6: workload\.algorithm: all_reduce knows auto",
        ),
        (
            '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "dance"\n',
            r":4: workload\.kind: must be one of",
        ),
        (
            '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "collective"\nbytes = 1024\n[options]\nseeds = 1\n',
            r":7: options\.seeds: unknown run option; allowed: seed",
        ),
        (
            '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "collective"\nbytes = 1024\n'
            '[options]\nfidelity = "flow"\n[[options.faults]]\ntype = "link_broken"\nlink = 0\n',
            r"options\.faults\[0\]\.type: must be one of corrupt_flit, drop_ack",
        ),
        (
            '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "collective"\nbytes = 1024\n'
            '[options]\nfidelity = "flow"\n[[options.faults]]\ntype = "link_failed"\nlinks = 0\n',
            r"options\.faults\[0\]: .*link_failed takes link",
        ),
        ("[fabrik]\n", r":1: fabrik: unknown section"),
        ("[fabric\n", r"not TOML"),
        (
            '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "collective"\nbytes = 1024\n'
            '[output]\ntables = "xlsx"\n',
            r":7: output\.tables: must be one of csv, parquet, json, none",
        ),
    ],
)
def test_bad_files_name_the_file_the_field_and_its_line(tmp_path, text, message, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ExperimentError, match=message):
        run(path)
    assert main(["run", str(path)]) == 2  # one line on stderr, no traceback
    err = capsys.readouterr().err
    assert err.startswith("fabricsim: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_line_of_finds_keys_in_their_section():
    text = "[a]\nx = 1\n[b]\nx = 2\ny = 3\n"
    assert (line_of(text, "a.x"), line_of(text, "b.x"), line_of(text, "b"), line_of(text, "b.z")) == (
        2,
        4,
        3,
        None,
    )


def test_version_and_presets(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"fabricsim {fs.__version__}"
    main(["presets"])
    kinds = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert kinds == {"fabric", "link", "router", "hbm", "protocol", "library", "gpu", "model"}


def test_validate_reproduces_a_table_of_the_validation_page(capsys):
    assert main(["validate", "--only", "noc"]) == 0
    out = capsys.readouterr().out
    assert "fabricsim validate --only noc" in out
    rows = [line for line in out.splitlines() if line.startswith("| 0.")]
    assert len(rows) == 8 and rows[0].startswith("| 0.01 | 33.23 | 33.42 | +0.6% |")
    page = (Path(__file__).parents[1] / "docs" / "validation.md").read_text()
    assert all(row in page for row in rows), "the page shows the table the command prints"


def test_plots_a_runs_link_map_and_a_sweeps_metric(examples):
    _, written = run(examples / "allreduce_dgx8.toml")
    assert (examples / "allreduce_dgx8_out" / "plot.png") in written
    sweep(examples / "allreduce_dgx8.toml")
    assert (examples / "allreduce_dgx8_out" / "plot.png").stat().st_size > 0
    bad = examples / "bad_plot.toml"
    bad.write_text(
        (examples / "mesh_uniform.toml").read_text().replace("[output]", '[output]\nplot = "x.png"')
    )
    with pytest.raises(ExperimentError, match=r"output\.plot: a run's plot is a collective's link heat map"):
        run(bad)
    metric = examples / "bad_metric.toml"
    metric.write_text(
        (examples / "allreduce_dgx8.toml")
        .read_text()
        .replace('plot = "plot.png"', 'plot = "p.png"\nplot_metric = "joy"')
    )
    with pytest.raises(ExperimentError, match=r"output\.plot_metric: must be a number the runs report"):
        sweep(metric)


def test_faults_in_an_experiment_file_are_the_python_apis(tmp_path):
    path = tmp_path / "failed.toml"
    path.write_text(
        '[fabric]\npreset = "dgx8_nvswitch"\n[workload]\nkind = "collective"\nbytes = 1048576\n'
        'algorithm = "ring"\n[options]\nfidelity = "flow"\nkeep_messages = false\n'
        '[[options.faults]]\ntype = "link_failed"\nlink = 0\n[output]\ntables = "none"\n'
    )
    result, _ = run(path)
    fab = fs.Fabric.preset("dgx8_nvswitch")
    op = fs.collectives.all_reduce(bytes=1 << 20, algorithm="ring")
    direct = fab.run(op, fidelity="flow", faults=[fs.faults.link_failed(0)])
    assert result.time_ns == direct.time_ns != fab.run(op, fidelity="flow").time_ns
    assert not result.run.messages_kept
