//! Bindings of the HBM model: byte columns of requests in, a dict of plain
//! values and byte columns out.

use crate::{enter, i64_column, u64_bytes};
use fabricsim_core::error::Error;
use fabricsim_core::hbm::{self, MemoryRequests};
use fabricsim_core::spec::hbm::HbmSpec;
use fabricsim_core::spec::memory::ControllerSpec;
use fabricsim_core::spec::{parse, RunOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn unsigned(col: Vec<i64>, name: &str) -> Result<Vec<u64>, Error> {
    col.into_iter()
        .enumerate()
        .map(|(i, v)| {
            u64::try_from(v).map_err(|_| {
                Error::spec(
                    format!("traffic.{name}[{i}]"),
                    format!("must be >= 0, got {v}"),
                )
            })
        })
        .collect()
}

/// Puts a stack's counters into `d` (scalars, and per-bank byte columns).
pub(crate) fn put_counters(
    py: Python<'_>,
    d: &Bound<'_, PyDict>,
    k: &hbm::Counters,
) -> PyResult<()> {
    for (name, v) in hbm::StackTotals::NAMES.iter().zip(k.totals.values()) {
        d.set_item(name, v)?;
    }
    d.set_item("bank_acts", u64_bytes(py, k.bank_acts.iter().copied()))?;
    d.set_item("bank_reads", u64_bytes(py, k.bank_reads.iter().copied()))?;
    d.set_item("bank_writes", u64_bytes(py, k.bank_writes.iter().copied()))?;
    Ok(())
}

/// Runs memory requests (int64 byte columns) on one HBM stack.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn run_memory<'py>(
    py: Python<'py>,
    hbm_json: String,
    controller_json: String,
    options_json: String,
    addr: &[u8],
    nbytes: &[u8],
    write: &[u8],
    arrival: &[u8],
    outstanding: u32,
    record_commands: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let cols = [addr, nbytes, write, arrival].map(|c| c.to_vec());
    let r = enter(py, move || {
        let hbm: HbmSpec = parse::from_json(&hbm_json, "hbm")?;
        let ctrl: ControllerSpec = parse::from_json(&controller_json, "controller")?;
        let opts: RunOptions = parse::from_json(&options_json, "options")?;
        let [a, b, w, t] = cols;
        let reqs = MemoryRequests {
            addr: unsigned(i64_column(&a, "addr")?, "addr")?,
            bytes: unsigned(i64_column(&b, "bytes")?, "bytes")?
                .into_iter()
                .map(|v| v.min(u32::MAX as u64) as u32)
                .collect(),
            write: i64_column(&w, "write")?
                .into_iter()
                .map(|v| v != 0)
                .collect(),
            arrival: unsigned(i64_column(&t, "arrival")?, "arrival")?,
            outstanding,
        };
        hbm::run_memory(&hbm, &ctrl, reqs, &opts, record_commands)
    })?;
    let d = PyDict::new(py);
    d.set_item("complete", r.complete)?;
    d.set_item("cycles", r.cycles)?;
    d.set_item("tck_ns", r.tck_ns)?;
    d.set_item("wall_seconds", r.wall_seconds)?;
    d.set_item("admitted", u64_bytes(py, r.admitted.iter().copied()))?;
    d.set_item("finished", u64_bytes(py, r.finished.iter().copied()))?;
    put_counters(py, &d, &r.counters)?;
    d.set_item("bank_split", r.bank_split.clone())?;
    let t = &r.trace;
    d.set_item("trace_cycle", u64_bytes(py, t.iter().map(|c| c.cycle)))?;
    d.set_item("trace_pc", u64_bytes(py, t.iter().map(|c| c.pc as u64)))?;
    d.set_item("trace_bank", u64_bytes(py, t.iter().map(|c| c.bank as u64)))?;
    d.set_item(
        "trace_command",
        u64_bytes(py, t.iter().map(|c| c.command as u64)),
    )?;
    d.set_item("trace_row", u64_bytes(py, t.iter().map(|c| c.row as u64)))?;
    Ok(d)
}
