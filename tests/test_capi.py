"""The C ABI (rust/capi, header rust/capi/fabricsim.h from cbindgen), driven through cffi: the
same run through the C ABI and through the Python API gives identical results; hostile inputs
(null pointers, bad spec text, wrong lengths) return error codes with a message; the C example
in docs compiles and runs when a C compiler is present."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import fabricsim as fs

cffi = pytest.importorskip("cffi")

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "rust" / "capi" / "fabricsim.h"
LIBRARY = ROOT / "target" / "release" / "libfabricsim.so"
SOURCE = ROOT / "rust" / "capi" / "src" / "lib.rs"


def declarations(header: str) -> str:
    """What cffi's cdef takes of the header: declarations and the FS_ constants."""
    return "\n".join(
        line for line in header.splitlines() if not line.startswith("#") or line.startswith("#define FS_")
    )


@pytest.fixture(scope="module")
def capi():
    if not LIBRARY.exists():
        pytest.fail(f"{LIBRARY} is missing: `make test` builds it (cargo build --release -p fabricsim-capi)")
    ffi = cffi.FFI()
    ffi.cdef(declarations(HEADER.read_text()))
    return ffi, ffi.dlopen(str(LIBRARY))


def fabric_from(ffi, lib, text: str, fmt: str = "json"):
    out = ffi.new("FsFabric **")
    code = lib.fs_fabric_new(text.encode(), fmt.encode(), out)
    return code, out[0]


def error(ffi, lib) -> str:
    return ffi.string(lib.fs_last_error()).decode()


def test_the_header_declares_every_exported_function():
    exported = set(re.findall(r'pub (?:unsafe )?extern "C" fn (\w+)', SOURCE.read_text()))
    declared = set(re.findall(r"\b(fs_\w+)\(", HEADER.read_text()))
    assert exported and exported == declared


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_a_run_through_the_c_abi_equals_the_python_run(capi, fmt):
    ffi, lib = capi
    fab = fs.Fabric(
        topology=fs.topology.mesh((3, 3)),
        link=fs.LinkSpec.preset("noc"),
        router=fs.RouterSpec(pipeline_cycles=3),
    )
    text = fab._json if fmt == "json" else fab.to_toml()
    code, f = fabric_from(ffi, lib, text, fmt)
    assert code == lib.FS_OK, error(ffi, lib)
    try:
        assert lib.fs_fabric_endpoints(f) == 9
        rng = np.random.default_rng(1)
        n = 200
        src = rng.integers(0, 9, n).astype(np.uint32)
        dst = ((src + rng.integers(1, 9, n)) % 9).astype(np.uint32)
        nbytes = rng.integers(1, 2048, n).astype(np.uint64)
        at = np.sort(rng.integers(0, 100_000, n)).astype(np.uint64)
        out = ffi.new("FsResult **")
        code = lib.fs_run_messages(
            f, n, ffi.from_buffer("uint32_t[]", src), ffi.from_buffer("uint32_t[]", dst),
            ffi.from_buffer("uint64_t[]", nbytes), ffi.from_buffer("uint64_t[]", at), ffi.NULL, 7, out,
        )  # fmt: skip
        assert code == lib.FS_OK, error(ffi, lib)
        r = out[0]
        try:
            assert lib.fs_result_messages(r) == n
            send = np.zeros(n, dtype=np.uint64)
            deliver = np.zeros(n, dtype=np.uint64)
            assert (
                lib.fs_result_message_times(
                    r, ffi.from_buffer("uint64_t[]", send), ffi.from_buffer("uint64_t[]", deliver), n
                )
                == 0
            )
            links = lib.fs_result_links(r)
            flits = np.zeros(links, dtype=np.uint64)
            srcs = np.zeros(links, dtype=np.uint32)
            code = lib.fs_result_link_counters(
                r,
                ffi.from_buffer("uint32_t[]", srcs),
                ffi.NULL,
                ffi.from_buffer("uint64_t[]", flits),
                ffi.NULL,
                links,
            )
            assert code == 0
            py = fab.run(fs.traffic.messages(src, dst, nbytes, at_ps=at), seed=7)
            assert np.array_equal(deliver.astype(np.int64), py.messages["deliver_ps"])
            assert np.array_equal(send.astype(np.int64), py.messages["send_ps"])
            assert np.array_equal(flits, py.links["flits"]) and np.array_equal(srcs, py.links["src"])
            assert lib.fs_result_end_ps(r) == py.end_ps
        finally:
            lib.fs_result_free(r)
    finally:
        lib.fs_fabric_free(f)


def test_hostile_inputs_return_errors_with_messages(capi):
    ffi, lib = capi
    out = ffi.new("FsFabric **")
    assert lib.fs_fabric_new(ffi.NULL, b"toml", out) == lib.FS_ERR_NULL and "text: must not be null" in error(
        ffi, lib
    )
    assert out[0] == ffi.NULL
    assert lib.fs_fabric_new(b"x", b"toml", ffi.NULL) == lib.FS_ERR_NULL and "out" in error(ffi, lib)
    assert lib.fs_fabric_new(b"[link\n", b"toml", out) == lib.FS_ERR_SPEC and error(ffi, lib)
    assert lib.fs_fabric_new(
        b"{}", b"yaml", out
    ) == lib.FS_ERR_SPEC and 'format: must be "toml" or "json"' in error(ffi, lib)
    assert lib.fs_fabric_new(b"\xff\xfe", b"json", out) == lib.FS_ERR_SPEC and "UTF-8" in error(ffi, lib)
    fab = fs.Fabric(topology=fs.topology.point_to_point(), link=fs.LinkSpec.preset("pcie6_x16"))
    code, f = fabric_from(ffi, lib, fab._json)
    assert code == lib.FS_OK
    try:
        res = ffi.new("FsResult **")
        src = ffi.new("uint32_t[]", [0])
        dst = ffi.new("uint32_t[]", [5])  # no endpoint 5
        nbytes = ffi.new("uint64_t[]", [64])
        assert lib.fs_run_messages(f, 1, src, dst, nbytes, ffi.NULL, ffi.NULL, 0, res) == lib.FS_ERR_SPEC
        assert "dst" in error(ffi, lib) and res[0] == ffi.NULL
        assert lib.fs_run_messages(f, 1, src, ffi.NULL, nbytes, ffi.NULL, ffi.NULL, 0, res) == lib.FS_ERR_NULL
        assert (
            lib.fs_run_messages(ffi.NULL, 0, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 0, res)
            == lib.FS_ERR_NULL
        )
        ok = lib.fs_run_messages(f, 1, src, ffi.new("uint32_t[]", [1]), nbytes, ffi.NULL, ffi.NULL, 0, res)
        assert ok == lib.FS_OK
        r = res[0]
        buf = ffi.new("uint64_t[]", 4)
        assert lib.fs_result_message_times(r, buf, ffi.NULL, 4) == lib.FS_ERR_SPEC  # wrong length
        assert "len: must be the result's 1 messages, got 4" in error(ffi, lib)
        assert lib.fs_result_message_times(ffi.NULL, buf, buf, 1) == lib.FS_ERR_NULL
        lib.fs_result_free(r)
        lib.fs_result_free(ffi.NULL)  # allowed
    finally:
        lib.fs_fabric_free(f)
    lib.fs_fabric_free(ffi.NULL)
    assert lib.fs_fabric_endpoints(ffi.NULL) == 0 and lib.fs_result_messages(ffi.NULL) == 0


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_the_c_example_in_the_docs_compiles_and_runs(tmp_path, capi):
    exe = tmp_path / "capi_example"
    subprocess.run(
        ["cc", str(ROOT / "docs" / "capi_example.c"), "-I", str(HEADER.parent), "-L", str(LIBRARY.parent),
         "-lfabricsim", "-o", str(exe)],
        check=True,
    )  # fmt: skip
    run = subprocess.run(
        [str(exe), str(ROOT / "specs" / "fabric" / "dgx8_nvswitch.toml")],
        capture_output=True,
        text=True,
        env={"LD_LIBRARY_PATH": str(LIBRARY.parent)},
        check=True,
    )
    assert run.stdout.count("delivered at") == 2
