//! The memory fabric: loads, stores and DMA to memory behind other
//! endpoints (a peer's HBM, a memory expander) as request and response
//! messages over the links and switches, and to local HBM without them.
//!
//! One file per concept: the address map ([`address`]), the requesters
//! ([`requester`]), the memory devices and their clock crossing
//! ([`device`]), and the model that steps them with the network ([`model`]).

pub mod address;
pub mod device;
pub mod model;
pub mod requester;

use crate::error::{Error, Result};
use crate::hbm::{Counters, MemoryRequests, MemorySystem};
use crate::ids::LinkDirId;
use crate::network::Network;
use crate::result::RunResult;
use crate::spec::memfabric::{MemoryFabricSpec, MemoryLoadSpec, Target};
use crate::spec::run::Fidelity;
use crate::spec::RunOptions;
use crate::time::ClockDomain;
use crate::traffic::MessageTraffic;
pub(crate) use address::AddressMap;
use device::Device;
pub use model::{MemoryFabric, Messages, Rows, NEVER_PS};
use requester::Requester;

/// One memory device's report.
#[derive(Clone, Debug)]
pub struct DeviceReport {
    pub endpoint: u32,
    pub expander: bool,
    /// Requests it served (local and remote) and its stack's counters.
    pub requests: u64,
    pub counters: Counters,
    pub tck_ns: f64,
    /// CK cycles it ran.
    pub cycles: u64,
}

/// What a memory-fabric run returns.
#[derive(Clone, Debug)]
pub struct MemoryFabricResult {
    /// The network's result: links, and the request and response messages.
    pub run: RunResult,
    /// One row per request.
    pub rows: Rows,
    /// The messages of `run`, as sent.
    pub messages: Messages,
    /// Per requester: its mean requests in flight, measured as the time
    /// integral of its tags in use (kept apart from the rows' times).
    pub occupancy: Vec<f64>,
    /// Per requester: time (ps) spent with each number of requests in
    /// flight, from its first issue to its last completion.
    pub occupancy_time: Vec<Vec<u64>>,
    pub devices: Vec<DeviceReport>,
}

/// What both fidelities build from a spec and a load: a memory device per
/// endpoint (its stack on its own clock), the address map and the
/// requesters, every requester checked against the spec.
pub(crate) struct Parts {
    pub devices: Vec<Device>,
    pub map: AddressMap,
    pub requesters: Vec<Requester>,
}

/// Checks `load` against `spec` and builds its [`Parts`] on the fabric
/// clock `clock`; `inputs(e)` gives the link directions arriving at
/// endpoint `e` (none at flow fidelity: flows are taken whole).
pub(crate) fn parts(
    spec: &MemoryFabricSpec,
    load: &MemoryLoadSpec,
    opts: &RunOptions,
    clock: ClockDomain,
    inputs: impl Fn(u32) -> Vec<LinkDirId>,
) -> Result<Parts> {
    let n = spec.fabric.topology.num_endpoints();
    let mut devices = Vec::with_capacity(n);
    for e in 0..n as u32 {
        let hbm = memory_of(spec, e);
        let mem = MemorySystem::new(hbm, &spec.controller, MemoryRequests::default(), false)?;
        devices.push(Device::new(e, mem, hbm.tck_ns, clock, inputs(e)));
    }
    let map = AddressMap::new(
        devices.iter().map(|d| d.mem.capacity()).collect(),
        spec.expanders.clone(),
        spec.protocol.interleave_bytes,
    );
    let mut requesters = Vec::with_capacity(load.requesters.len());
    for (i, q) in load.requesters.iter().enumerate() {
        let within = |e: Error| e.within(&format!("requesters[{i}]"));
        let target = q.validate(spec).map_err(within)?;
        let space = map.space(target, q.endpoint);
        if let Some(j) = q
            .addresses
            .iter()
            .position(|&a| a.checked_add(q.bytes as u64).is_none_or(|end| end > space))
        {
            return Err(within(Error::spec(
                format!("addresses[{j}]"),
                format!(
                    "{:#x} + {} bytes is beyond the target's {space:#x} bytes",
                    q.addresses[j], q.bytes
                ),
            )));
        }
        if target == Target::Local && q.bytes as u64 > space {
            return Err(within(Error::spec("bytes", "larger than the memory")));
        }
        // A request is one packet: a device reserves room for it at its first
        // flit, and packets of different messages may interleave on a VC.
        let writes = q.writes.iter().any(|&w| w) || (q.addresses.is_empty() && q.read_ratio < 1.0);
        let header = spec.protocol.request_header_bytes as u64;
        let largest = header + if writes { q.bytes as u64 } else { 0 };
        let mtu = spec.fabric.link.mtu_bytes as u64;
        if largest > mtu {
            return Err(within(Error::spec(
                "bytes",
                format!(
                    "a request must be one packet: protocol.request_header_bytes + the write data = {largest} B is more than the link's mtu_bytes ({mtu})"
                ),
            )));
        }
        let start = clock.cycle_at_or_after(crate::spec::link::ns_to_ps(q.start_ns));
        requesters.push(Requester::new(i, q, target, start, opts.seed));
    }
    Ok(Parts {
        devices,
        map,
        requesters,
    })
}

/// The HBM spec of endpoint `e`'s device.
fn memory_of(spec: &MemoryFabricSpec, e: u32) -> &crate::spec::hbm::HbmSpec {
    match (&spec.expander_memory, spec.is_expander(e)) {
        (Some(m), true) => m,
        _ => &spec.hbm,
    }
}

/// The run's result from its network report and what its requesters and
/// devices kept.
pub(crate) fn result(
    spec: &MemoryFabricSpec,
    run: RunResult,
    rows: Rows,
    messages: Messages,
    requesters: &mut [Requester],
    devices: &mut [Device],
) -> MemoryFabricResult {
    let occupancy = requesters.iter().map(|q| q.mean_occupancy()).collect();
    let occupancy_time = requesters
        .iter_mut()
        .map(|q| std::mem::take(&mut q.occupancy_time))
        .collect();
    let devices = devices
        .iter_mut()
        .map(|d| DeviceReport {
            endpoint: d.endpoint,
            expander: spec.is_expander(d.endpoint),
            requests: d.row_of.len() as u64,
            counters: std::mem::take(&mut d.mem.sink.counters),
            tck_ns: memory_of(spec, d.endpoint).tck_ns,
            cycles: d.ck.cycle_at_or_after(run.end_ps),
        })
        .collect();
    MemoryFabricResult {
        run,
        rows,
        messages,
        occupancy,
        occupancy_time,
        devices,
    }
}

/// Runs `load` on the memory fabric `spec`, at the options' fidelity (at
/// flow, requests and responses are flows and the stacks stay cycle-level:
/// `crate::flow::run_memory_fabric`).
pub fn run_memory_fabric(
    spec: &MemoryFabricSpec,
    load: &MemoryLoadSpec,
    opts: &RunOptions,
) -> Result<MemoryFabricResult> {
    spec.validate()?;
    opts.validate().map_err(|e| e.within("options"))?;
    if opts.fidelity == Fidelity::Flow {
        return crate::flow::run_memory_fabric(spec, load, opts);
    }
    let params = spec.fabric.link_params()?;
    let clock = params.clock;
    let net = Network::new(
        &spec.fabric,
        params,
        &MessageTraffic::default(),
        opts.seed,
        &opts.faults,
    )?;
    let Parts {
        devices,
        map,
        requesters,
    } = parts(spec, load, opts, clock, |e| net.inputs_of(e))?;
    let limit = opts.limit_cycle(clock);
    let mut model = MemoryFabric::new(net, devices, requesters, map, &spec.protocol);
    let (cycles, complete, wall) =
        crate::simulation::drive_to_end(&mut model, opts, limit, "memory fabric", |m| &m.net)?;
    let run = crate::simulation::network_report(&model.net, cycles, complete, wall);
    let rows = std::mem::take(&mut model.rows);
    let messages = std::mem::take(&mut model.messages);
    Ok(result(
        spec,
        run,
        rows,
        messages,
        &mut model.requesters,
        &mut model.devices,
    ))
}

/// The tests' memory fabric: four endpoints on a switch (2-cycle router
/// pipeline), HBM3 behind each, endpoint 3 an expander.
#[cfg(test)]
pub(crate) fn star_of_four(
    link: crate::spec::LinkSpec,
    classes: crate::spec::memfabric::MessageClasses,
    queue: u32,
) -> MemoryFabricSpec {
    use crate::spec::memfabric::ProtocolSpec;
    use crate::spec::{FabricSpec, TopologySpec};
    let mut fabric = FabricSpec::new(
        TopologySpec::SwitchStar {
            n: 4,
            planes: 1,
            reduction_ports: 0,
        },
        link,
    );
    fabric.router.pipeline_cycles = 2;
    MemoryFabricSpec {
        fabric,
        hbm: crate::spec::presets::hbm_preset("hbm3").unwrap(),
        controller: Default::default(),
        expanders: vec![3],
        expander_memory: None,
        protocol: ProtocolSpec {
            message_classes: classes,
            device_queue: queue,
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::memfabric::{MessageClasses, RequesterSpec};
    use crate::spec::presets::link_preset;

    fn spec(vcs: u32, credits: u32, classes: MessageClasses, queue: u32) -> MemoryFabricSpec {
        let mut link = link_preset("cxl3_256b").unwrap();
        link.vcs = vcs;
        link.credits_per_vc = credits;
        star_of_four(link, classes, queue)
    }

    fn reads(endpoint: u32, target: &str, outstanding: u32, requests: u64) -> RequesterSpec {
        serde_json::from_str(&format!(
            r#"{{"endpoint": {endpoint}, "target": "{target}", "outstanding": {outstanding}, "requests": {requests}, "read_ratio": 0.5}}"#
        ))
        .unwrap()
    }

    #[test]
    fn an_isolated_remote_read_is_request_plus_closed_bank_read_plus_response() {
        let s = spec(2, 8, MessageClasses::Separate, 16);
        let mut q = reads(0, "expander:0", 1, 1);
        q.read_ratio = 1.0;
        let load = MemoryLoadSpec {
            requesters: vec![q],
        };
        let r = run_memory_fabric(&s, &load, &RunOptions::default()).unwrap();
        // cxl3_256b: 2 ns flits, 5 cycles of wire: a one-flit message through one
        // switch takes (1 + 5) + (1 + 2 + 5) = 14 cycles = 28 ns.
        let hop = 28_000;
        let t = &s.hbm.timing;
        let ck = 625; // HBM3 tCK, ps
        let ck_in = hop / ck + 1;
        let ck_done = ck_in + (t.rcd_rd + t.cl + t.bl) as u64;
        let seen = (ck_done * ck).div_ceil(2000) * 2000;
        assert_eq!(r.rows.device_ps, vec![hop]);
        assert_eq!(r.rows.memory_ps, vec![ck_done * ck]);
        assert_eq!(r.rows.complete_ps, vec![seen + hop]);
        assert_eq!(r.devices[3].counters.totals.reads, 2); // two 32 B accesses
    }

    #[test]
    fn shared_classes_deadlock_where_separate_ones_do_not() {
        let load = MemoryLoadSpec {
            requesters: (0..3)
                .map(|e| reads(e, &format!("peer:{}", (e + 1) % 3), 64, 1000))
                .collect(),
        };
        let opts = RunOptions {
            watchdog_cycles: 20_000,
            ..RunOptions::default()
        };
        let shared = spec(2, 4, MessageClasses::Shared, 2);
        match run_memory_fabric(&shared, &load, &opts) {
            Err(Error::Deadlock { message, .. }) => {
                assert!(message.contains("is full"), "{message}")
            }
            other => panic!(
                "expected a deadlock, got {:?}",
                other.map(|r| r.rows.issue_ps.len())
            ),
        }
        let separate = spec(2, 4, MessageClasses::Separate, 2);
        let r = run_memory_fabric(&separate, &load, &opts).unwrap();
        assert!(r.rows.complete_ps.iter().all(|&t| t != NEVER_PS));
        assert_eq!(r.rows.complete_ps.len(), 3000);
    }
}
