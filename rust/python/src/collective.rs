//! Bindings of the collective executor: schedule columns in, the network's
//! result dict plus per-operation columns out.

use crate::memory::put_counters;
use crate::{enter, i64_column, result_dict, u64_bytes};
use fabricsim_core::collective::{self, CollectiveMemory, ScheduleColumns};
use fabricsim_core::error::Error;
use fabricsim_core::spec::{parse, FabricSpec, RunOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn non_negative<T: TryFrom<i64>>(col: Vec<i64>, name: &str) -> Result<Vec<T>, Error> {
    col.into_iter()
        .enumerate()
        .map(|(i, v)| {
            T::try_from(v).map_err(|_| {
                Error::spec(
                    format!("schedule.{name}[{i}]"),
                    format!("is out of range: {v}"),
                )
            })
        })
        .collect()
}

/// Runs a schedule (int64 byte columns) over a fabric.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn run_collective<'py>(
    py: Python<'py>,
    fabric_json: String,
    options_json: String,
    op: &[u8],
    rank: &[u8],
    peer: &[u8],
    nbytes: &[u8],
    matched: &[u8],
    dep_ptr: &[u8],
    deps: &[u8],
    reduce_ps_per_byte: f64,
    copy_ps_per_byte: f64,
    delay_ps: &[u8],
    wire_bytes_per_byte: f64,
    memory_json: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let cols = [op, rank, peer, nbytes, matched, dep_ptr, deps, delay_ps].map(|c| c.to_vec());
    let r = enter(py, move || {
        let fabric: FabricSpec = parse::from_json(&fabric_json, "fabric")?;
        let opts: RunOptions = parse::from_json(&options_json, "options")?;
        let [o, r, p, b, m, dp, d, dl] = cols;
        let s = ScheduleColumns {
            op: non_negative(i64_column(&o, "op")?, "op")?,
            rank: non_negative(i64_column(&r, "rank")?, "rank")?,
            peer: i64_column(&p, "peer")?
                .into_iter()
                .map(|v| v.max(0) as u32)
                .collect(),
            bytes: non_negative(i64_column(&b, "bytes")?, "bytes")?,
            matched: i64_column(&m, "matched")?,
            dep_ptr: non_negative(i64_column(&dp, "dep_ptr")?, "dep_ptr")?,
            deps: non_negative(i64_column(&d, "deps")?, "deps")?,
            reduce_ps_per_byte,
            copy_ps_per_byte,
            delay_ps: non_negative(i64_column(&dl, "delay_ps")?, "delay_ps")?,
            wire_bytes_per_byte,
        };
        let memory: Option<CollectiveMemory> = match memory_json {
            Some(text) => Some(parse::from_json(&text, "memory")?),
            None => None,
        };
        collective::run_collective(&fabric, s, &opts, memory.as_ref())
    })?;
    let d = result_dict(py, &r.run)?;
    d.set_item("op_start", u64_bytes(py, r.start.iter().copied()))?;
    d.set_item("op_finish", u64_bytes(py, r.finish.iter().copied()))?;
    d.set_item("msg_op", u64_bytes(py, r.msg_op.iter().map(|&m| m as u64)))?;
    d.set_item("msg_bytes", u64_bytes(py, r.msg_bytes.iter().copied()))?;
    let memory = PyList::empty(py);
    for k in &r.memory {
        let x = PyDict::new(py);
        put_counters(py, &x, k)?;
        memory.append(x)?;
    }
    d.set_item("memory", memory)?;
    Ok(d)
}
