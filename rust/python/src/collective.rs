//! Bindings of the collective executor: schedule columns in, the network's
//! result dict plus per-operation columns out.

use crate::memory::put_counters;
use crate::{enter, le_ints, result_dict, u64_bytes};
use fabricsim_core::collective::{self, CollectiveMemory, ScheduleColumns};
use fabricsim_core::error::Error;
use fabricsim_core::spec::{parse, FabricSpec, RunOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn non_negative<S: Copy + std::fmt::Display, T: TryFrom<S>>(
    col: Vec<S>,
    name: &str,
) -> Result<Vec<T>, Error> {
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

/// Runs a schedule over a fabric. Columns, little-endian, each in its own
/// width (the schedule's own: a 16-million-operation schedule is half a
/// gigabyte less than as int64): op u8; rank, peer, matched, deps i32;
/// bytes, dep_ptr, delay_ps i64. They are read in place, with the GIL held,
/// into the engine's columns.
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
    let i32s = |data: &[u8], name: &str| le_ints::<4, i32>(data, name, i32::from_le_bytes);
    let i64s = |data: &[u8], name: &str| le_ints::<8, i64>(data, name, i64::from_le_bytes);
    let columns = (|| -> Result<ScheduleColumns, Error> {
        Ok(ScheduleColumns {
            op: le_ints::<1, u8>(op, "op", u8::from_le_bytes)?,
            rank: non_negative(i32s(rank, "rank")?, "rank")?,
            peer: i32s(peer, "peer")?
                .into_iter()
                .map(|v| v.max(0) as u32)
                .collect(),
            bytes: non_negative(i64s(nbytes, "bytes")?, "bytes")?,
            matched: i32s(matched, "matched")?
                .into_iter()
                .map(i64::from)
                .collect(),
            dep_ptr: non_negative(i64s(dep_ptr, "dep_ptr")?, "dep_ptr")?,
            deps: non_negative(i32s(deps, "deps")?, "deps")?,
            reduce_ps_per_byte,
            copy_ps_per_byte,
            delay_ps: non_negative(i64s(delay_ps, "delay_ps")?, "delay_ps")?,
            wire_bytes_per_byte,
        })
    })();
    let r = enter(py, move || {
        let fabric: FabricSpec = parse::from_json(&fabric_json, "fabric")?;
        let opts: RunOptions = parse::from_json(&options_json, "options")?;
        let s = columns?;
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
