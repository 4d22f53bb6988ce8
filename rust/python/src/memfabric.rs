//! Bindings of the memory fabric: JSON specs in, a dict of plain values and
//! byte columns out.

use crate::memory::put_counters;
use crate::{enter, result_dict, u64_bytes};
use fabricsim_core::memfabric;
use fabricsim_core::spec::memfabric::{MemoryFabricSpec, MemoryLoadSpec};
use fabricsim_core::spec::{parse, RunOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Runs a memory load (requesters) on a memory fabric.
#[pyfunction]
pub fn run_memory_fabric<'py>(
    py: Python<'py>,
    spec_json: String,
    load_json: String,
    options_json: String,
) -> PyResult<Bound<'py, PyDict>> {
    let r = enter(py, move || {
        let spec: MemoryFabricSpec = parse::from_json(&spec_json, "memory fabric")?;
        let load: MemoryLoadSpec = parse::from_json(&load_json, "traffic")?;
        let opts: RunOptions = parse::from_json(&options_json, "options")?;
        memfabric::run_memory_fabric(&spec, &load, &opts)
    })?;
    let d = result_dict(py, &r.run)?;
    let rows = &r.rows;
    let u32s = |v: &[u32]| u64_bytes(py, v.iter().map(|&x| x as u64));
    d.set_item("row_requester", u32s(&rows.requester))?;
    d.set_item("row_device", u32s(&rows.device))?;
    d.set_item(
        "row_write",
        u64_bytes(py, rows.write.iter().map(|&w| w as u64)),
    )?;
    d.set_item("row_addr", u64_bytes(py, rows.addr.iter().copied()))?;
    for (name, col) in [
        ("row_issue_ps", &rows.issue_ps),
        ("row_device_ps", &rows.device_ps),
        ("row_memory_ps", &rows.memory_ps),
        ("row_complete_ps", &rows.complete_ps),
    ] {
        d.set_item(name, u64_bytes(py, col.iter().copied()))?;
    }
    let m = &r.messages;
    d.set_item("msg_src", u32s(&m.src))?;
    d.set_item("msg_dst", u32s(&m.dst))?;
    d.set_item("msg_bytes", u64_bytes(py, m.bytes.iter().copied()))?;
    d.set_item("msg_vc", u64_bytes(py, m.vc.iter().map(|&v| v as u64)))?;
    d.set_item("msg_inject_ps", u64_bytes(py, m.inject_ps.iter().copied()))?;
    d.set_item("msg_items", u32s(&m.items))?;
    d.set_item("row_request_msg", u32s(&rows.request_msg))?;
    d.set_item("row_response_msg", u32s(&rows.response_msg))?;
    d.set_item("occupancy", r.occupancy.clone())?;
    d.set_item("occupancy_time", r.occupancy_time.clone())?;
    let devices = PyList::empty(py);
    for dev in &r.devices {
        let x = PyDict::new(py);
        x.set_item("endpoint", dev.endpoint)?;
        x.set_item("expander", dev.expander)?;
        x.set_item("requests", dev.requests)?;
        x.set_item("tck_ns", dev.tck_ns)?;
        x.set_item("cycles", dev.cycles)?;
        put_counters(py, &x, &dev.counters)?;
        devices.append(x)?;
    }
    d.set_item("devices", devices)?;
    Ok(d)
}
