//! Memory loads at flow fidelity: requests and responses are flows over
//! the fabric; the memory devices stay the cycle-level HBM stacks.
//!
//! ```text
//!  requester --issue (a free tag, at a fabric cycle)--> request message
//!     ^            (packed with unstarted ones to the same device, as the cycle engine packs)
//!     |      flow over the route --> arrives: the device admits it (its queue) --> HBM stack (cycle-level, own clock)
//!     |                                                                              | access done
//!     +---- arrives <-- flow over the route <-- response message <-------------------+
//!  local requests go straight to the requester's own stack
//! ```
//!
//! Why the stacks stay cycle-level: a random load's bandwidth is set by
//! bank conflicts, row locality, refresh and the scheduler's window, which a
//! capacity would have to guess; the stack model costs per access, not per
//! flit, so the network is what the flow model saves (docs/fidelity.md has
//! the speed-up measured). What a flow does not see: a full device's
//! requests wait at the device (in the cycle engine they back up into the
//! fabric and block the links behind them).

use super::nic::Nics;
use super::{
    apply_changes, capacity_changes, limit_ps, report, stalled, start_link_samples, FlowFabric,
    Polling, Sharing,
};
use crate::error::Result;
use crate::memfabric::device::{Device, Finished};
use crate::memfabric::model::{Kind, Packing, NONE, PACK_DEPTH};
use crate::memfabric::requester::Requester;
use crate::memfabric::{parts, result, AddressMap, MemoryFabricResult, Messages, Parts, Rows};
use crate::result::NEVER_PS;
use crate::spec::memfabric::{MemoryFabricSpec, MemoryLoadSpec};
use crate::spec::RunOptions;
use crate::time::{Cycle, Ps};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// Per message, what the flow model keeps beside the shared log.
#[derive(Default)]
struct MessageState {
    kind: Vec<Kind>,
    port: Vec<u32>,
    send: Vec<Ps>,
    deliver: Vec<Ps>,
    tail: Vec<Ps>,
}

struct MemoryRun<'a> {
    spec: &'a MemoryFabricSpec,
    fab: FlowFabric,
    sh: Sharing,
    nics: Nics,
    devices: Vec<Device>,
    requesters: Vec<Requester>,
    map: AddressMap,
    packing: Packing,
    rows: Rows,
    /// Per row: the next row of the message carrying it.
    next_row: Vec<u32>,
    log: Messages,
    msg: MessageState,
    /// Per endpoint: its messages not started yet (packing looks back
    /// through the last `PACK_DEPTH`).
    unstarted: Vec<Vec<u32>>,
    /// Messages heading their queue, started when the event's work is done
    /// (so that what one cycle issues packs as the cycle engine packs it).
    to_start: Vec<u32>,
    /// Per device: requests held (admitted, response not yet sent), and the
    /// request messages waiting for room.
    slots: Vec<u32>,
    waiting: Vec<VecDeque<u32>>,
    /// Wake-ups: devices (fabric cycle start, device) and requesters.
    device_wake: BinaryHeap<Reverse<(Ps, u32)>>,
    issue_wake: BinaryHeap<Reverse<(Ps, u32)>>,
    /// Deliveries to come: a transfer's end plus its tail.
    arrivals: BinaryHeap<Reverse<(Ps, u32)>>,
    payload: Vec<u64>,
    path: Vec<u32>,
    done: Vec<Finished>,
    /// A message's rows, gathered (kept between events).
    rows_scratch: Vec<u32>,
    /// Accesses given to the stacks and not finished.
    in_stacks: u64,
    left: u64,
    request_vc: u32,
    response_vc: u32,
}

impl MemoryRun<'_> {
    fn clock(&self) -> crate::time::ClockDomain {
        self.fab.params.clock
    }

    /// Sends `bytes` of `kind` for `row` from `src` to `dst` at `t`: packed
    /// into an unstarted message to `dst` if it still fits one flit, else a
    /// new message.
    fn send(&mut self, src: u32, dst: u32, bytes: u64, kind: Kind, row: u32, t: Ps) {
        let vc = match kind {
            Kind::Request => self.request_vc,
            Kind::Response => self.response_vc,
        };
        self.next_row[row as usize] = NONE;
        if let Some(m) = self.pack(src, dst, bytes, kind, vc) {
            self.log.append(m, row, bytes, &mut self.next_row);
            self.set_msg(kind, row, m as u32);
            return;
        }
        let m = self.log.open(src, dst, bytes, vc as u8, t, row);
        let port = self.fab.pick_port(src, dst);
        let st = &mut self.msg;
        st.kind.push(kind);
        st.port.push(port);
        st.send.push(NEVER_PS);
        st.deliver.push(NEVER_PS);
        st.tail.push(0);
        self.set_msg(kind, row, m);
        self.unstarted[src as usize].push(m);
        if self.nics.offer(m, port, dst, vc) {
            self.to_start.push(m);
        }
    }

    fn set_msg(&mut self, kind: Kind, row: u32, m: u32) {
        let col = match kind {
            Kind::Request => &mut self.rows.request_msg,
            Kind::Response => &mut self.rows.response_msg,
        };
        col[row as usize] = m;
    }

    /// The unstarted message from `src` to `dst` on `vc` (among its last
    /// `PACK_DEPTH`) that one more item of `bytes` still fits, if any.
    fn pack(&self, src: u32, dst: u32, bytes: u64, kind: Kind, vc: u32) -> Option<usize> {
        let log = &self.log;
        self.unstarted[src as usize]
            .iter()
            .rev()
            .take(PACK_DEPTH)
            .map(|&m| m as usize)
            .find(|&m| {
                log.dst[m] == dst
                    && log.vc[m] as u32 == vc
                    && self.msg.kind[m] == kind
                    && self
                        .packing
                        .fits(kind, log.items[m] as u64 + 1, log.bytes[m] + bytes)
                        .is_some()
            })
    }

    /// Message `m`'s flow starts at `t` (it heads its port's queue).
    fn start(&mut self, m: u32, t: Ps) -> Result<()> {
        let mu = m as usize;
        let (src, dst, vc) = (self.log.src[mu], self.log.dst[mu], self.log.vc[mu] as u32);
        let list = &mut self.unstarted[src as usize];
        if let Some(i) = list.iter().rposition(|&x| x == m) {
            list.remove(i);
        }
        self.msg.tail[mu] = self
            .fab
            .route(m, self.msg.port[mu], dst, vc, &mut self.path)?;
        self.msg.send[mu] = t;
        let bytes = self.log.bytes[mu];
        for &d in &self.path {
            self.payload[d as usize] += bytes;
        }
        // a packed message fits one flit (`Packing::fits`)
        let flits = if self.log.items[mu] > 1 {
            1
        } else {
            self.fab.params.message_flits(bytes)
        };
        let window = self.fab.vc_window[self.path[0] as usize];
        self.sh.add(t, m, flits, &self.path, window);
        Ok(())
    }

    fn start_offered(&mut self, t: Ps) -> Result<()> {
        let mut list = std::mem::take(&mut self.to_start);
        for m in list.drain(..) {
            self.start(m, t)?;
        }
        self.to_start = list;
        Ok(())
    }

    /// The rows of message `m`, in order.
    fn rows_of(&self, m: u32) -> impl Iterator<Item = u32> + '_ {
        let mut next = self.log.first_row[m as usize];
        std::iter::from_fn(move || {
            (next != NONE).then(|| {
                let row = next;
                next = self.next_row[row as usize];
                row
            })
        })
    }

    /// Transfers that end at `t`: their delivery is due a tail later; a
    /// response's device frees its slots and admits what waits; the next
    /// message of each queue starts.
    fn transfers_end(&mut self, t: Ps, ended: &mut Vec<u32>) -> Result<()> {
        self.sh.finish_due(t, ended);
        for m in ended.drain(..) {
            let mu = m as usize;
            self.arrivals.push(Reverse((t + self.msg.tail[mu], m)));
            if self.msg.kind[mu] == Kind::Response {
                let device = self.log.src[mu] as usize;
                self.slots[device] -= self.log.items[mu];
                self.admit_waiting(device, t);
            }
            if let Some(next) = self.nics.sent(m) {
                self.to_start.push(next);
            }
        }
        Ok(())
    }

    /// Whether device `d` takes a request message of `items` requests now
    /// (as the cycle engine's device: room for all, or empty).
    fn has_room(&self, d: usize, items: u32) -> bool {
        self.slots[d] == 0 || self.slots[d] + items <= self.spec.protocol.device_queue
    }

    fn admit_waiting(&mut self, d: usize, t: Ps) {
        while let Some(&m) = self.waiting[d].front() {
            if !self.has_room(d, self.log.items[m as usize]) {
                break;
            }
            self.waiting[d].pop_front();
            self.admit(m, t);
        }
    }

    /// Device of request message `m` takes its requests into its stack at `t`.
    fn admit(&mut self, m: u32, t: Ps) {
        let d = self.log.dst[m as usize] as usize;
        self.slots[d] += self.log.items[m as usize];
        let mut rows = self.gather_rows(m);
        for &row in &rows {
            self.give_stack(row, t);
        }
        rows.clear();
        self.rows_scratch = rows;
    }

    /// Message `m`'s rows in the scratch list (given back by the caller).
    fn gather_rows(&mut self, m: u32) -> Vec<u32> {
        let mut rows = std::mem::take(&mut self.rows_scratch);
        rows.extend(self.rows_of(m));
        rows
    }

    fn give_stack(&mut self, row: u32, t: Ps) {
        let r = row as usize;
        self.rows.device_ps[r] = t;
        let bytes = self.requesters[self.rows.requester[r] as usize].bytes;
        let d = self.rows.device[r] as usize;
        self.devices[d].push(row, self.rows.addr[r], bytes, self.rows.write[r], t);
        self.in_stacks += 1;
        self.wake_device(d);
    }

    fn wake_device(&mut self, d: usize) {
        let wake = self.devices[d].wake;
        if wake != Cycle::MAX {
            let at = self.clock().start_ps(wake);
            self.device_wake.push(Reverse((at, d as u32)));
        }
    }

    /// Messages delivered at `t`: requests reach their device, responses
    /// complete their requests (whose tags are free the next cycle).
    fn deliver(&mut self, m: u32, t: Ps) {
        let mu = m as usize;
        self.msg.deliver[mu] = t;
        match self.msg.kind[mu] {
            Kind::Request => {
                let d = self.log.dst[mu] as usize;
                if self.waiting[d].is_empty() && self.has_room(d, self.log.items[mu]) {
                    self.admit(m, t);
                } else {
                    self.waiting[d].push_back(m);
                }
            }
            Kind::Response => {
                let mut rows = self.gather_rows(m);
                let next = self.clock().cycle_at_or_after(t + 1);
                for &row in &rows {
                    let q = self.complete(row, t);
                    self.wake_requester(q, next);
                }
                rows.clear();
                self.rows_scratch = rows;
            }
        }
    }

    fn complete(&mut self, row: u32, t: Ps) -> usize {
        let r = row as usize;
        self.rows.complete_ps[r] = t;
        let q = self.rows.requester[r] as usize;
        self.requesters[q].complete(t);
        self.left -= 1;
        q
    }

    /// Requester `q` may issue from fabric cycle `from` on: its next
    /// wake-up (none while its tags are all in use or it is done).
    fn wake_requester(&mut self, q: usize, from: Cycle) {
        let clock = self.clock();
        if let Some(c) = self.requesters[q].next_issue(&clock) {
            let at = clock.start_ps(c.max(from));
            self.issue_wake.push(Reverse((at, q as u32)));
        }
    }

    /// Stacks due by `t` run up to it; finished accesses answer (a local
    /// one completes, its tag free this cycle).
    fn run_devices(&mut self, t: Ps) -> Result<()> {
        let c = self.clock().cycle_at_or_after(t);
        while let Some(d) = pop_due(&mut self.device_wake, t) {
            let du = d as usize;
            if self.devices[du].wake > c {
                continue; // stale
            }
            let mut done = std::mem::take(&mut self.done);
            self.devices[du].advance(t, &mut done)?;
            self.wake_device(du);
            self.in_stacks -= done.len() as u64;
            for &(endpoint, row, at) in &done {
                let r = row as usize;
                self.rows.memory_ps[r] = at;
                let q = self.rows.requester[r] as usize;
                let from = self.requesters[q].endpoint;
                if from == endpoint {
                    self.complete(row, t);
                    self.wake_requester(q, c);
                } else {
                    let data = if self.rows.write[r] {
                        0
                    } else {
                        self.requesters[q].bytes as u64
                    };
                    let header = self.spec.protocol.response_header_bytes as u64;
                    self.send(endpoint, from, header + data, Kind::Response, row, t);
                }
            }
            done.clear();
            self.done = done;
        }
        Ok(())
    }

    /// Requesters due by `t` issue while they have free tags.
    fn issue(&mut self, t: Ps) {
        let c = self.clock().cycle_at_or_after(t);
        while let Some(q) = pop_due(&mut self.issue_wake, t) {
            let qu = q as usize;
            let mut issued = false;
            while self.requesters[qu].can_issue(c, t) {
                self.issue_one(qu, t);
                issued = true;
            }
            if issued {
                self.wake_requester(qu, c);
            }
        }
    }

    fn issue_one(&mut self, q: usize, t: Ps) {
        let a = self.requesters[q].issue(t, &self.map);
        let (from, bytes) = (self.requesters[q].endpoint, self.requesters[q].bytes);
        let row = self.rows.issued(q, &a, t);
        self.next_row.push(NONE);
        if a.device == from {
            self.give_stack(row, t);
        } else {
            let data = if a.write { bytes as u64 } else { 0 };
            let header = self.spec.protocol.request_header_bytes as u64;
            self.send(from, a.device, header + data, Kind::Request, row, t);
        }
    }

    fn next_event(&self) -> Option<Ps> {
        let first = |h: &BinaryHeap<Reverse<(Ps, u32)>>| h.peek().map(|r| r.0 .0);
        // A stack's refresh goes on for ever: its wake-ups are events only
        // while it holds accesses (a stack catches up on the refreshes it
        // missed when it next runs).
        let stacks = (self.in_stacks > 0)
            .then(|| first(&self.device_wake))
            .flatten();
        [first(&self.arrivals), stacks, first(&self.issue_wake)]
            .into_iter()
            .flatten()
            .min()
    }

    fn network_result(
        &self,
        complete: bool,
        end: Ps,
        events: u64,
        wall: f64,
    ) -> crate::result::RunResult {
        report(
            &self.fab,
            &self.sh,
            self.msg.send.clone(),
            self.msg.deliver.clone(),
            self.payload.clone(),
            complete,
            end,
            events,
            wall,
            true, // a request row names the messages that carried it
        )
    }
}

/// The next entry of a wake-up heap due by `t`, taken off it.
fn pop_due(heap: &mut BinaryHeap<Reverse<(Ps, u32)>>, t: Ps) -> Option<u32> {
    match heap.peek() {
        Some(&Reverse((at, x))) if at <= t => {
            heap.pop();
            Some(x)
        }
        _ => None,
    }
}

/// Runs `load` on `spec` at flow fidelity (`spec` and `opts` validated by
/// the caller).
pub fn run_memory_fabric(
    spec: &MemoryFabricSpec,
    load: &MemoryLoadSpec,
    opts: &RunOptions,
) -> Result<MemoryFabricResult> {
    let mut fab = FlowFabric::new(&spec.fabric)?;
    let changes = capacity_changes(opts, &mut fab, &spec.fabric)?;
    let clock = fab.params.clock;
    let Parts {
        devices,
        map,
        requesters,
    } = parts(spec, load, opts, clock, |_| Vec::new())?;
    let limit = limit_ps(&spec.fabric, opts)?;
    let started = Instant::now();
    let vcs = fab.params.vcs;
    let classes = spec.protocol.classes();
    let n = fab.endpoints;
    let total: u64 = requesters.iter().map(|q| q.total_requests()).sum();
    let mut run = MemoryRun {
        spec,
        sh: Sharing::new(fab.capacity.clone()),
        nics: Nics::with_queues(fab.num_ports(), std::env::var("FS_PERDST").is_ok()),
        packing: Packing::new(&spec.protocol, &fab.params),
        devices,
        requesters,
        map,
        rows: Rows::default(),
        next_row: Vec::new(),
        log: Messages::default(),
        msg: MessageState::default(),
        unstarted: vec![Vec::new(); n],
        to_start: Vec::new(),
        slots: vec![0; n],
        waiting: vec![VecDeque::new(); n],
        device_wake: BinaryHeap::new(),
        issue_wake: BinaryHeap::new(),
        arrivals: BinaryHeap::new(),
        payload: vec![0; fab.num_dirs()],
        path: Vec::new(),
        done: Vec::new(),
        rows_scratch: Vec::new(),
        in_stacks: 0,
        left: total,
        request_vc: 0,
        response_vc: vcs - vcs / classes,
        fab,
    };
    for q in 0..run.requesters.len() {
        run.wake_requester(q, 0);
    }
    start_link_samples(&mut run.sh, &run.fab, opts);
    let mut ended = Vec::new();
    let (mut events, mut next_change, mut now) = (0u64, 0usize, 0);
    let mut polling = Polling::new();
    let complete = loop {
        if run.left == 0 {
            break true;
        }
        let change = changes.get(next_change).map(|c| c.at_ps);
        let Some(t) = [run.next_event(), run.sh.next_finish(), change]
            .into_iter()
            .flatten()
            .min()
        else {
            let what = format!(
                "{} of {total} memory requests completed; nothing can move",
                total - run.left
            );
            let partial = run.network_result(false, now, events, 0.0);
            return Err(stalled(&run.fab, &run.sh, now, what, partial));
        };
        if t >= limit {
            break false;
        }
        now = t;
        events += 1;
        run.sh.sample_until(t);
        run.transfers_end(t, &mut ended)?;
        next_change = apply_changes(&changes, next_change, t, &mut run.sh);
        // the cycle engine's order within a cycle: the stacks answer, the
        // requesters issue, the network moves, deliveries land (a tag a
        // delivery frees is used the next cycle)
        run.run_devices(t)?;
        run.issue(t);
        // (every event is handled at its time: a delivery due now is at `t`)
        while let Some(m) = pop_due(&mut run.arrivals, t) {
            run.deliver(m, t);
        }
        run.start_offered(t)?;
        run.sh.reshare(t);
        polling.turn(&run.fab, t, total - run.left, total)?;
    };
    let end = if complete {
        let last = run.rows.complete_ps.iter().copied().max().unwrap_or(0);
        last.max(run.msg.deliver.iter().copied().max().unwrap_or(0))
    } else {
        limit.saturating_sub(1)
    };
    let net = run.network_result(complete, end, events, started.elapsed().as_secs_f64());
    if !complete {
        let message = format!(
            "run limit reached at {} ps with {} of {total} memory requests completed (max_cycles={:?}, max_time_ns={:?})",
            net.end_ps,
            total - run.left,
            opts.max_cycles,
            opts.max_time_ns
        );
        return Err(crate::engine::limit_error(message, net));
    }
    let rows = std::mem::take(&mut run.rows);
    let log = std::mem::take(&mut run.log);
    Ok(result(
        spec,
        net,
        rows,
        log,
        &mut run.requesters,
        &mut run.devices,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::memfabric::{MessageClasses, RequesterSpec};
    use crate::spec::presets::link_preset;
    use crate::spec::run::Fidelity;

    fn spec(queue: u32) -> MemoryFabricSpec {
        let link = link_preset("cxl3_256b").unwrap();
        crate::memfabric::star_of_four(link, MessageClasses::default(), queue)
    }

    fn load(requesters: &[(u32, &str, u32, u64, f64)]) -> MemoryLoadSpec {
        MemoryLoadSpec {
            requesters: requesters
                .iter()
                .map(|&(endpoint, target, outstanding, requests, read_ratio)| {
                    serde_json::from_str::<RequesterSpec>(&format!(
                        r#"{{"endpoint": {endpoint}, "target": "{target}", "outstanding": {outstanding}, "requests": {requests}, "read_ratio": {read_ratio}}}"#
                    ))
                    .unwrap()
                })
                .collect(),
        }
    }

    fn both(s: &MemoryFabricSpec, l: &MemoryLoadSpec) -> (MemoryFabricResult, MemoryFabricResult) {
        let cycle = crate::memfabric::run_memory_fabric(s, l, &RunOptions::default()).unwrap();
        let opts = RunOptions {
            fidelity: Fidelity::Flow,
            ..RunOptions::default()
        };
        let flow = crate::memfabric::run_memory_fabric(s, l, &opts).unwrap();
        (cycle, flow)
    }

    /// Every request completed once, its times in order; no requester held
    /// more than its tags; every message's rows are requests it carried.
    fn check_rows(r: &MemoryFabricResult, l: &MemoryLoadSpec) {
        let rows = &r.rows;
        let total: u64 = l.requesters.iter().map(|q| q.count()).sum();
        assert_eq!(rows.issue_ps.len() as u64, total);
        for i in 0..rows.issue_ps.len() {
            assert!(rows.issue_ps[i] <= rows.device_ps[i], "row {i}");
            assert!(rows.device_ps[i] < rows.memory_ps[i], "row {i}");
            assert!(rows.memory_ps[i] <= rows.complete_ps[i], "row {i}");
            assert_ne!(rows.complete_ps[i], NEVER_PS);
        }
        for (q, spec) in l.requesters.iter().enumerate() {
            assert!(r.occupancy[q] <= spec.outstanding as f64 + 1e-9);
            assert_eq!(r.occupancy_time[q].len(), spec.outstanding as usize + 1);
        }
        let carried: u32 = r.messages.items.iter().sum();
        let remote = (0..rows.issue_ps.len())
            .filter(|&i| rows.device[i] != l.requesters[rows.requester[i] as usize].endpoint)
            .count() as u32;
        assert_eq!(
            carried,
            2 * remote,
            "a request and a response per remote row"
        );
        assert!(r.run.deliver_ps.iter().all(|&t| t != NEVER_PS));
    }

    #[test]
    fn an_isolated_remote_read_takes_what_the_cycle_engine_takes() {
        let s = spec(256);
        let l = load(&[(0, "expander:0", 1, 20, 1.0)]);
        let (c, f) = both(&s, &l);
        check_rows(&f, &l);
        // one request in flight at a time: no sharing, so the same times to the ps
        assert_eq!(f.rows.complete_ps, c.rows.complete_ps);
        assert_eq!(f.rows.memory_ps, c.rows.memory_ps);
        assert_eq!(f.devices[3].counters.totals, c.devices[3].counters.totals);
        assert_eq!(f.run.end_ps, c.run.end_ps);
    }

    #[test]
    fn loaded_random_traffic_stays_close_to_the_cycle_engine_and_is_deterministic() {
        let s = spec(256);
        let l = load(&[
            (0, "peer:1", 32, 1500, 0.5),
            (1, "expander:0", 16, 1500, 1.0),
            (2, "global", 32, 1500, 0.7),
            (0, "local", 8, 800, 1.0),
        ]);
        let (c, f) = both(&s, &l);
        check_rows(&c, &l);
        check_rows(&f, &l);
        let err = f.run.end_ps as f64 / c.run.end_ps as f64 - 1.0;
        assert!(
            err.abs() < 0.10,
            "flow {} vs cycle {} ps",
            f.run.end_ps,
            c.run.end_ps
        );
        let again = both(&s, &l).1;
        assert_eq!(again.rows.complete_ps, f.rows.complete_ps);
        assert_eq!(again.run.links.len(), f.run.links.len());
    }

    #[test]
    fn a_small_device_queue_holds_requests_at_the_device_without_losing_any() {
        let l = load(&[
            (0, "expander:0", 64, 600, 1.0),
            (1, "expander:0", 64, 600, 0.0),
        ]);
        let (_, wide) = both(&spec(256), &l);
        let (c, narrow) = both(&spec(2), &l);
        check_rows(&narrow, &l);
        // fewer requests for the scheduler to choose from: slower
        assert!(narrow.run.end_ps > wide.run.end_ps);
        let err = narrow.run.end_ps as f64 / c.run.end_ps as f64 - 1.0;
        assert!(
            err.abs() < 0.15,
            "flow {} vs cycle {} ps",
            narrow.run.end_ps,
            c.run.end_ps
        );
    }

    #[test]
    fn a_link_down_window_delays_the_requests_behind_it() {
        let s = spec(256);
        let l = load(&[(0, "expander:0", 4, 200, 1.0)]);
        let run = |faults| {
            let opts = RunOptions {
                fidelity: Fidelity::Flow,
                faults,
                ..RunOptions::default()
            };
            crate::memfabric::run_memory_fabric(&s, &l, &opts).unwrap()
        };
        let base = run(Vec::new());
        let down = run(vec![crate::spec::faults::Fault::LinkDown {
            link: 0,
            at_ns: 100.0,
            duration_ns: 2000.0,
        }]);
        check_rows(&down, &l);
        let late = down.run.end_ps - base.run.end_ps;
        assert!((1_900_000..=2_100_000).contains(&late), "{late} ps");
    }
}
