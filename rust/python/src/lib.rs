//! `fabricsim._core`: thin bindings of fabricsim-core.
//!
//! Only conversion lives here: JSON text and byte columns in, dicts of byte
//! columns out, core errors mapped one to one onto the exception classes of
//! `fabricsim.errors`. Runs release the GIL; a panic in the core becomes a
//! `fabricsim.InternalError`, never a crashed interpreter.

use fabricsim_core::error::Error;
use fabricsim_core::result::{LinkCounters, RetryCounters, RunResult};
use fabricsim_core::spec::faults::Fault;
use fabricsim_core::spec::hbm::HbmSpec;
use fabricsim_core::spec::{self, parse, presets, FabricSpec, LinkSpec, RunOptions};
use fabricsim_core::{MessageTraffic, Simulation};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::panic::{catch_unwind, AssertUnwindSafe};

mod collective;
mod interrupt;
mod memfabric;
mod memory;
mod verify;

/// Raises the `fabricsim.errors` class `name` built with `message` and `kwargs`.
fn raise(py: Python<'_>, name: &str, message: String, kwargs: Option<Bound<'_, PyDict>>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = py.import("fabricsim.errors")?.getattr(name)?;
        let exc = cls.call((message.clone(),), kwargs.as_ref())?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let kw = PyDict::new(py);
    let message = err.to_string();
    let filled = (|| -> PyResult<&str> {
        Ok(match err {
            Error::Spec { path, .. } => {
                kw.set_item("path", path)?;
                "SpecError"
            }
            Error::Deadlock {
                cycle,
                time_ps,
                waiting,
                partial,
                ..
            } => {
                kw.set_item("cycle", cycle)?;
                kw.set_item("time_ps", time_ps)?;
                let rows = PyList::empty(py);
                for w in waiting {
                    let d = PyDict::new(py);
                    d.set_item("node", w.node)?;
                    d.set_item("port", w.port)?;
                    d.set_item("vc", w.vc)?;
                    d.set_item("reason", w.reason)?;
                    rows.append(d)?;
                }
                kw.set_item("waiting", rows)?;
                kw.set_item("partial_raw", result_dict(py, &partial)?)?;
                "DeadlockError"
            }
            Error::Limit { partial, .. } => {
                kw.set_item("partial_raw", result_dict(py, &partial)?)?;
                "SimulationLimitError"
            }
            Error::Invariant { cycle, .. } => {
                kw.set_item("cycle", cycle)?;
                "InvariantError"
            }
            // Only when the hook stopped the run without an exception to
            // re-raise (`enter` re-raises the one it has).
            Error::Interrupted { .. } => return Ok("Interrupted"),
        })
    })();
    match filled {
        Ok("Interrupted") => pyo3::exceptions::PyKeyboardInterrupt::new_err(message),
        Ok(name) => raise(py, name, message, Some(kw)),
        Err(e) => e,
    }
}

/// Runs `f` with the GIL released, turning core errors and panics into
/// Python exceptions (polars' `enter_polars` pattern); Ctrl-C and the
/// thread's progress callback reach the run through `interrupt`.
pub(crate) fn enter<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, Error> + Send,
) -> PyResult<T> {
    let callback = interrupt::progress_callback(py);
    let (outcome, raised) =
        py.detach(|| interrupt::with_interrupts(callback, || catch_unwind(AssertUnwindSafe(f))));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Error::Interrupted { .. })) if raised.is_some() => {
            Err(raised.expect("checked just above"))
        }
        Ok(Err(e)) => Err(to_py_err(py, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(raise(
                py,
                "InternalError",
                format!("fabricsim engine bug (please report with the inputs): {what}"),
                None,
            ))
        }
    }
}

pub(crate) fn u64_bytes<'py>(
    py: Python<'py>,
    values: impl Iterator<Item = u64>,
) -> Bound<'py, PyBytes> {
    let buf: Vec<u8> = values.flat_map(u64::to_le_bytes).collect();
    PyBytes::new(py, &buf)
}

/// A column of little-endian `N`-byte integers named `schedule.{name}` in
/// errors, read in place from the caller's buffer.
pub(crate) fn le_ints<const N: usize, T>(
    data: &[u8],
    name: &str,
    from: fn([u8; N]) -> T,
) -> Result<Vec<T>, Error> {
    if data.len() % N != 0 {
        return Err(Error::spec(
            format!("schedule.{name}"),
            format!("must be a buffer of {}-bit integers", 8 * N),
        ));
    }
    Ok(data
        .chunks_exact(N)
        .map(|c| from(c.try_into().expect("N-byte chunk")))
        .collect())
}

pub(crate) fn i64_column(data: &[u8], name: &str) -> Result<Vec<i64>, Error> {
    if data.len() % 8 != 0 {
        return Err(Error::spec(
            format!("traffic.{name}"),
            "must be a buffer of 64-bit integers".to_string(),
        ));
    }
    Ok(data
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8-byte chunk")))
        .collect())
}

/// A run result as a dict of plain values and little-endian u64 byte columns.
pub(crate) fn result_dict<'py>(py: Python<'py>, r: &RunResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("complete", r.complete)?;
    d.set_item("cycles", r.cycles)?;
    d.set_item("cycle_ps_num", r.cycle_ps.0)?;
    d.set_item("cycle_ps_den", r.cycle_ps.1)?;
    d.set_item("end_ps", r.end_ps)?;
    d.set_item("events", r.events)?;
    d.set_item("num_endpoints", r.num_endpoints)?;
    d.set_item("wall_seconds", r.wall_seconds)?;
    d.set_item("messages_kept", r.messages_kept)?;
    if let Some(ls) = &r.link_samples {
        d.set_item("link_sample_ps", u64_bytes(py, ls.times_ps.iter().copied()))?;
        d.set_item("link_sample_flits", u64_bytes(py, ls.flits.iter().copied()))?;
    }
    if let Some(s) = &r.link_spans {
        let spans = PyDict::new(py);
        spans.set_item("msg", u64_bytes(py, s.msg.iter().map(|&m| m as u64)))?;
        spans.set_item("link", u64_bytes(py, s.link.iter().map(|&l| l as u64)))?;
        spans.set_item("start_ps", u64_bytes(py, s.start_ps.iter().copied()))?;
        spans.set_item("end_ps", u64_bytes(py, s.end_ps.iter().copied()))?;
        spans.set_item("left_out", s.left_out)?;
        d.set_item("link_spans", spans)?;
    }
    d.set_item("send_ps", u64_bytes(py, r.send_ps.iter().copied()))?;
    d.set_item("deliver_ps", u64_bytes(py, r.deliver_ps.iter().copied()))?;
    d.set_item(
        "deliver_order",
        u64_bytes(py, r.deliver_order.iter().copied()),
    )?;
    d.set_item(
        "corrupt",
        u64_bytes(py, r.corrupt.iter().map(|&b| b as u64)),
    )?;
    let links = PyDict::new(py);
    let col =
        |f: fn(&fabricsim_core::result::LinkRecord) -> u64| u64_bytes(py, r.links.iter().map(f));
    links.set_item("src", col(|l| l.src as u64))?;
    links.set_item("dst", col(|l| l.dst as u64))?;
    links.set_item("flits", col(|l| l.flits))?;
    links.set_item("payload_bytes", col(|l| l.payload_bytes))?;
    links.set_item("credit_stall_cycles", col(|l| l.credit_stall_cycles))?;
    links.set_item("max_occupancy", col(|l| l.max_occupancy as u64))?;
    links.set_item("occupancy_width", col(|l| l.occupancy_width))?;
    let counters: Vec<Vec<u64>> = r
        .links
        .iter()
        .map(|l| [l.counters.values(), l.retry.values()].concat())
        .collect();
    for (i, name) in link_counter_names().enumerate() {
        links.set_item(name, u64_bytes(py, counters.iter().map(|c| c[i])))?;
    }
    links.set_item("pace_num", col(|l| l.pace.0))?;
    links.set_item("pace_den", col(|l| l.pace.1))?;
    let hist = PyList::empty(py);
    for l in &r.links {
        hist.append(u64_bytes(py, l.occupancy_cycles.iter().copied()))?;
    }
    links.set_item("occupancy_cycles", hist)?;
    d.set_item("links", links)?;
    Ok(d)
}

/// Validates JSON of spec `kind` and returns it canonical (defaults filled).
#[pyfunction]
fn spec_normalize(py: Python<'_>, kind: String, json: String) -> PyResult<String> {
    enter(py, move || spec::normalize_json(&kind, &json))
}

/// Parses TOML of spec `kind` into canonical JSON.
#[pyfunction]
fn spec_from_toml(py: Python<'_>, kind: String, text: String, origin: String) -> PyResult<String> {
    enter(py, move || spec::toml_to_json(&kind, &text, &origin))
}

/// Any TOML document as JSON text (experiment files).
#[pyfunction]
fn toml_loads(py: Python<'_>, text: String, origin: String) -> PyResult<String> {
    enter(py, move || spec::toml_document_to_json(&text, &origin))
}

/// Writes canonical JSON of spec `kind` as TOML.
#[pyfunction]
fn spec_to_toml(py: Python<'_>, kind: String, json: String) -> PyResult<String> {
    enter(py, move || spec::json_to_toml(&kind, &json))
}

/// Warnings about legal but unsafe settings of spec `kind`.
#[pyfunction]
fn spec_warnings(py: Python<'_>, kind: String, json: String) -> PyResult<Vec<String>> {
    enter(py, move || spec::warnings_json(&kind, &json))
}

/// The link layer's counters as `(name, doc)`, in column order (declared
/// once, in `fabricsim_core::result::LinkCounters`).
#[pyfunction]
fn link_counter_columns() -> Vec<(&'static str, &'static str)> {
    link_counter_names()
        .zip(
            LinkCounters::DOCS
                .iter()
                .chain(RetryCounters::DOCS)
                .copied(),
        )
        .collect()
}

fn link_counter_names() -> impl Iterator<Item = &'static str> {
    LinkCounters::NAMES
        .iter()
        .chain(RetryCounters::NAMES)
        .copied()
}

/// An HBM stack's totals as `(name, doc)` (declared once, in
/// `fabricsim_core::hbm::StackTotals`).
#[pyfunction]
fn stack_total_columns() -> Vec<(&'static str, &'static str)> {
    fabricsim_core::hbm::StackTotals::NAMES
        .iter()
        .copied()
        .zip(fabricsim_core::hbm::StackTotals::DOCS.iter().copied())
        .collect()
}

#[pyfunction]
fn link_preset_names() -> Vec<&'static str> {
    presets::link_preset_names()
}

/// The TOML text of a link preset.
#[pyfunction]
fn link_preset_toml(py: Python<'_>, name: String) -> PyResult<&'static str> {
    enter(py, move || presets::link_preset_toml(&name))
}

/// The engine's resolved view of a link: clock, cycles, goodput bound.
#[pyfunction]
fn link_resolve<'py>(py: Python<'py>, json: String) -> PyResult<Bound<'py, PyDict>> {
    let p = enter(py, move || {
        parse::from_json::<LinkSpec>(&json, "link")?.resolve()
    })?;
    let d = PyDict::new(py);
    let (num, den) = p.clock.ratio();
    d.set_item("cycle_ps", p.clock.period_ps_f64())?;
    d.set_item("cycle_ps_num", num)?;
    d.set_item("cycle_ps_den", den)?;
    d.set_item("raw_gbps", p.raw_gbps())?;
    d.set_item("flit_payload_bytes", p.flit_payload_bytes)?;
    d.set_item("latency_cycles", p.latency_cycles)?;
    d.set_item("credit_return_cycles", p.credit_return_cycles)?;
    d.set_item("credit_round_trip_cycles", p.credit_round_trip_cycles())?;
    d.set_item("packet_flits_at_mtu", p.packet_flits(p.mtu_bytes as u64))?;
    d.set_item("max_goodput_gbps", p.raw_gbps() * p.goodput_fraction())?;
    let r = &p.reliability;
    let t = r.normal.unwrap_or_default();
    d.set_item("flit_error_prob", t.undetected)?;
    d.set_item("flit_undetected_prob", t.undetected - t.detected)?;
    d.set_item("flit_fec_corrected_prob", t.corrected - t.undetected)?;
    d.set_item("seq_bits", r.seq_bits)?;
    d.set_item("replay_buffer_flits", r.replay_buffer_flits)?;
    d.set_item("ack_timer_cycles", r.ack_timer_cycles)?;
    d.set_item("ack_round_trip_cycles", r.ack_round_trip_cycles)?;
    d.set_item("replay_timeout_cycles", r.replay_timeout_cycles)?;
    Ok(d)
}

#[pyfunction]
fn fabric_preset_names() -> Vec<&'static str> {
    presets::FABRIC_PRESETS.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of a fabric preset.
#[pyfunction]
fn fabric_preset_toml(py: Python<'_>, name: String) -> PyResult<&'static str> {
    enter(py, move || presets::fabric_preset_toml(&name))
}

/// Endpoints of a fabric spec's topology.
#[pyfunction]
fn fabric_endpoints(py: Python<'_>, json: String) -> PyResult<usize> {
    enter(py, move || {
        let f: FabricSpec = parse::from_json(&json, "fabric")?;
        f.validate()?;
        Ok(f.topology.num_endpoints())
    })
}

/// The VCs a fresh packet may enter a fabric on (its first routing class's).
#[pyfunction]
fn fabric_injection_vcs(py: Python<'_>, json: String) -> PyResult<u32> {
    enter(py, move || {
        let f: FabricSpec = parse::from_json(&json, "fabric")?;
        fabricsim_core::build::injection_vcs(&f)
    })
}

/// Link directions of a fabric spec (the rows of a result's `links`, the
/// numbers faults name).
#[pyfunction]
fn fabric_link_directions(py: Python<'_>, json: String) -> PyResult<usize> {
    enter(py, move || {
        let f: FabricSpec = parse::from_json(&json, "fabric")?;
        f.validate()?;
        Ok(fabricsim_core::network::Network::count_link_directions(&f))
    })
}

#[pyfunction]
fn protocol_preset_names() -> Vec<&'static str> {
    presets::PROTOCOL_PRESETS.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of a memory-protocol preset.
#[pyfunction]
fn protocol_preset_toml(py: Python<'_>, name: String) -> PyResult<&'static str> {
    enter(py, move || presets::protocol_preset_toml(&name))
}

#[pyfunction]
fn router_preset_names() -> Vec<&'static str> {
    presets::ROUTER_PRESETS.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of a router preset.
#[pyfunction]
fn router_preset_toml(py: Python<'_>, name: String) -> PyResult<&'static str> {
    enter(py, move || presets::router_preset_toml(&name))
}

#[pyfunction]
fn hbm_preset_names() -> Vec<&'static str> {
    presets::HBM_PRESETS.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of an HBM preset.
#[pyfunction]
fn hbm_preset_toml(py: Python<'_>, name: String) -> PyResult<&'static str> {
    enter(py, move || presets::hbm_preset_toml(&name))
}

/// Derived figures of an HBM stack: peak bandwidth, access size, capacity.
#[pyfunction]
fn hbm_resolve<'py>(py: Python<'py>, json: String) -> PyResult<Bound<'py, PyDict>> {
    let h = enter(py, move || {
        let h: HbmSpec = parse::from_json(&json, "hbm")?;
        h.validate()?;
        Ok(h)
    })?;
    let d = PyDict::new(py);
    d.set_item("peak_gbyte_per_s", h.peak_gbyte_per_s())?;
    d.set_item("access_bytes", h.access_bytes())?;
    d.set_item("capacity_bytes", h.capacity_bytes())?;
    d.set_item(
        "banks_per_pseudo_channel",
        h.sids * h.bank_groups * h.banks_per_group,
    )?;
    Ok(d)
}

/// Flits a message of `bytes` takes on a link.
#[pyfunction]
fn link_message_flits(py: Python<'_>, json: String, bytes: u64) -> PyResult<u64> {
    enter(py, move || {
        Ok(parse::from_json::<LinkSpec>(&json, "link")?
            .resolve()?
            .message_flits(bytes))
    })
}

/// The static deadlock check of a fabric (None without routers).
#[pyfunction]
fn check_deadlock_freedom<'py>(
    py: Python<'py>,
    fabric_json: String,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let report = enter(py, move || {
        let fabric: FabricSpec = parse::from_json(&fabric_json, "fabric")?;
        fabricsim_core::build::check_deadlock_freedom(&fabric)
    })?;
    let Some(r) = report else { return Ok(None) };
    let d = PyDict::new(py);
    d.set_item("ok", r.ok)?;
    let cycle: Vec<(u32, u32, u32)> = r.cycle.iter().map(|c| (c.router, c.port, c.vc)).collect();
    d.set_item("cycle", cycle)?;
    d.set_item("channels", r.channels)?;
    d.set_item("dependencies", r.dependencies)?;
    d.set_item("routing", r.routing)?;
    Ok(Some(d))
}

/// A steppable run (see `fabricsim.Simulation`).
/// A random stream of the engine's generator (`fabricsim_core::rng`): the
/// stream of component `(kind, index)` within `seed`, drawn in batches.
#[pyclass(module = "fabricsim._core")]
struct RandomStream {
    rng: fabricsim_core::rng::Rng,
}

#[pymethods]
impl RandomStream {
    #[new]
    fn new(seed: u64, kind: u64, index: u64) -> Self {
        Self {
            rng: fabricsim_core::rng::Rng::for_component(seed, kind, index),
        }
    }

    /// `count` floats in [0, 1) as little-endian f64 bytes.
    fn floats<'py>(&mut self, py: Python<'py>, count: usize) -> Bound<'py, PyBytes> {
        let rng = &mut self.rng;
        let v = py.detach(|| rng.floats(count));
        PyBytes::new(
            py,
            &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
        )
    }

    /// `count` integers in [0, n) as little-endian u64 bytes.
    fn integers_below<'py>(
        &mut self,
        py: Python<'py>,
        n: u64,
        count: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if n == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err("n must be >= 1"));
        }
        let rng = &mut self.rng;
        let v = py.detach(|| rng.integers_below(n, count));
        Ok(u64_bytes(py, v.into_iter()))
    }

    /// The indices in 0..count whose draw falls below p, as little-endian u64 bytes.
    fn bernoulli_indices<'py>(
        &mut self,
        py: Python<'py>,
        count: u64,
        p: f64,
    ) -> Bound<'py, PyBytes> {
        let rng = &mut self.rng;
        let v = py.detach(|| rng.bernoulli_indices(count, p));
        u64_bytes(py, v.into_iter())
    }
}

#[pyclass(module = "fabricsim._core")]
struct CoreSimulation {
    inner: Simulation,
}

#[pymethods]
impl CoreSimulation {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        fabric_json: String,
        options_json: String,
        src: &[u8],
        dst: &[u8],
        nbytes: &[u8],
        inject_ps: &[u8],
        vc: &[u8],
    ) -> PyResult<Self> {
        let cols = [src, dst, nbytes, inject_ps, vc].map(|c| c.to_vec());
        let inner = enter(py, move || {
            let (fabric, opts, traffic) = run_inputs(&fabric_json, &options_json, cols)?;
            Simulation::new(&fabric, &traffic, &opts)
        })?;
        Ok(Self { inner })
    }

    /// Simulates the next `cycles` cycles.
    fn step(&mut self, py: Python<'_>, cycles: u64) -> PyResult<()> {
        let inner = &mut self.inner;
        enter(py, move || inner.step(cycles))
    }

    #[getter]
    fn cycle(&self) -> u64 {
        self.inner.cycle()
    }

    #[getter]
    fn time_ps(&self) -> u64 {
        self.inner.time_ps()
    }

    fn delivered(&self) -> usize {
        self.inner.delivered()
    }

    /// Every link direction's state, as a list of dicts.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for s in self.inner.state() {
            let d = PyDict::new(py);
            d.set_item("src", s.src)?;
            d.set_item("dst", s.dst)?;
            d.set_item("credits", s.credits)?;
            d.set_item("queued_messages", s.queued_messages)?;
            d.set_item("flits_on_wire", s.flits_on_wire)?;
            d.set_item("buffered", s.buffered)?;
            d.set_item("credits_returning", s.credits_returning)?;
            d.set_item("acks_in_flight", s.acks_in_flight)?;
            d.set_item("next_seq", s.next_seq)?;
            d.set_item("acked_seq", s.acked_seq)?;
            d.set_item("replaying", s.replaying)?;
            d.set_item("expected_seq", s.expected_seq)?;
            d.set_item("transmissions", s.transmissions)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Offers a message now; returns its row.
    fn inject(
        &mut self,
        py: Python<'_>,
        src: u32,
        dst: u32,
        nbytes: u64,
        vc: u32,
    ) -> PyResult<u32> {
        let inner = &mut self.inner;
        enter(py, move || inner.inject(src, dst, nbytes, vc))
    }

    /// Adds a scripted fault (JSON of one fault).
    fn inject_fault(&mut self, py: Python<'_>, fault_json: String) -> PyResult<()> {
        let inner = &mut self.inner;
        enter(py, move || {
            let fault: Fault = parse::from_json(&fault_json, "fault")?;
            inner.inject_fault(&fault)
        })
    }

    /// Runs to completion; the result as a dict of plain values and byte columns.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = &mut self.inner;
        let result = enter(py, move || inner.finish())?;
        result_dict(py, &result)
    }

    /// The result so far, marked partial.
    fn partial<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        result_dict(py, &self.inner.partial())
    }
}

/// Runs message traffic to its end at the options' fidelity (a stepped
/// `CoreSimulation` is cycle-level only); the result as `finish` gives it.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn run_messages<'py>(
    py: Python<'py>,
    fabric_json: String,
    options_json: String,
    src: &[u8],
    dst: &[u8],
    nbytes: &[u8],
    inject_ps: &[u8],
    vc: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let cols = [src, dst, nbytes, inject_ps, vc].map(|c| c.to_vec());
    let result = enter(py, move || {
        let (fabric, opts, traffic) = run_inputs(&fabric_json, &options_json, cols)?;
        fabricsim_core::fabric::run_messages(&fabric, &traffic, &opts)
    })?;
    result_dict(py, &result)
}

/// Parses the inputs of a run: fabric and options JSON, int64 byte columns.
fn run_inputs(
    fabric_json: &str,
    options_json: &str,
    cols: [Vec<u8>; 5],
) -> Result<(FabricSpec, RunOptions, MessageTraffic), Error> {
    let fabric: FabricSpec = parse::from_json(fabric_json, "fabric")?;
    let opts: RunOptions = parse::from_json(options_json, "options")?;
    let [s, d, b, t, v] = cols;
    let traffic = MessageTraffic::from_i64_columns(
        &i64_column(&s, "src")?,
        &i64_column(&d, "dst")?,
        &i64_column(&b, "bytes")?,
        &i64_column(&t, "inject_ps")?,
        &i64_column(&v, "vc")?,
    )?;
    Ok((fabric, opts, traffic))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CoreSimulation>()?;
    m.add_class::<RandomStream>()?;
    m.add_function(wrap_pyfunction!(run_messages, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify_schedule, m)?)?;
    m.add_function(wrap_pyfunction!(verify::plan_schedule, m)?)?;
    m.add_function(wrap_pyfunction!(interrupt::set_progress, m)?)?;
    m.add_function(wrap_pyfunction!(check_deadlock_freedom, m)?)?;
    m.add_function(wrap_pyfunction!(spec_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(spec_from_toml, m)?)?;
    m.add_function(wrap_pyfunction!(spec_to_toml, m)?)?;
    m.add_function(wrap_pyfunction!(spec_warnings, m)?)?;
    m.add_function(wrap_pyfunction!(link_preset_names, m)?)?;
    m.add_function(wrap_pyfunction!(link_counter_columns, m)?)?;
    m.add_function(wrap_pyfunction!(stack_total_columns, m)?)?;
    m.add_function(wrap_pyfunction!(hbm_preset_names, m)?)?;
    m.add_function(wrap_pyfunction!(fabric_preset_names, m)?)?;
    m.add_function(wrap_pyfunction!(fabric_preset_toml, m)?)?;
    m.add_function(wrap_pyfunction!(fabric_endpoints, m)?)?;
    m.add_function(wrap_pyfunction!(fabric_injection_vcs, m)?)?;
    m.add_function(wrap_pyfunction!(toml_loads, m)?)?;
    m.add_function(wrap_pyfunction!(fabric_link_directions, m)?)?;
    m.add_function(wrap_pyfunction!(hbm_preset_toml, m)?)?;
    m.add_function(wrap_pyfunction!(protocol_preset_names, m)?)?;
    m.add_function(wrap_pyfunction!(protocol_preset_toml, m)?)?;
    m.add_function(wrap_pyfunction!(router_preset_names, m)?)?;
    m.add_function(wrap_pyfunction!(router_preset_toml, m)?)?;
    m.add_function(wrap_pyfunction!(hbm_resolve, m)?)?;
    m.add_function(wrap_pyfunction!(memory::run_memory, m)?)?;
    m.add_function(wrap_pyfunction!(memfabric::run_memory_fabric, m)?)?;
    m.add_function(wrap_pyfunction!(collective::run_collective, m)?)?;
    m.add_function(wrap_pyfunction!(link_preset_toml, m)?)?;
    m.add_function(wrap_pyfunction!(link_resolve, m)?)?;
    m.add_function(wrap_pyfunction!(link_message_flits, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
