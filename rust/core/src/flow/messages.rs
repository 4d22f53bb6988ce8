//! Message traffic at flow fidelity: each message is offered at its time,
//! waits behind its port's earlier messages to the same destination
//! (`nic`), is a flow while it leaves, and is delivered its head's latency
//! after its last flit left.

use super::nic::Nics;
use super::{
    apply_changes, capacity_changes, limit_ps, report, stalled, start_link_samples, FlowFabric,
    Polling, Sharing,
};
use crate::error::Result;
use crate::result::{RunResult, NEVER_PS};
use crate::spec::{FabricSpec, RunOptions};
use crate::time::Ps;
use crate::traffic::MessageTraffic;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

struct MessageRun<'a> {
    traffic: &'a MessageTraffic,
    fab: FlowFabric,
    sh: Sharing,
    nics: Nics,
    /// Per message: the port it leaves on (chosen in the traffic's order,
    /// as the cycle engine chooses them).
    port: Vec<u32>,
    send: Vec<Ps>,
    deliver: Vec<Ps>,
    /// Per message: its tail (`FlowFabric::route`), added to the end of
    /// its transfer.
    tail: Vec<Ps>,
    /// Per link direction: the payload bytes it carried.
    payload: Vec<u64>,
    /// Deliveries to come: a transfer's end plus its tail.
    arrivals: BinaryHeap<Reverse<(Ps, u32)>>,
    path: Vec<u32>,
}

impl MessageRun<'_> {
    /// Message `i`'s flow starts at `t`.
    fn start(&mut self, i: u32, t: Ps) -> Result<()> {
        let (tr, iu) = (self.traffic, i as usize);
        let port = self.nics.port_of(i);
        self.tail[iu] = self
            .fab
            .route(i, port, tr.dst[iu], tr.vc[iu], &mut self.path)?;
        self.send[iu] = t;
        for &d in &self.path {
            self.payload[d as usize] += tr.bytes[iu];
        }
        let flits = self.fab.params.message_flits(tr.bytes[iu]);
        let window = self.fab.vc_window[self.path[0] as usize];
        self.sh.add(t, i, flits, &self.path, window);
        Ok(())
    }

    /// Message `i` is offered at `t`.
    fn offer(&mut self, i: u32, t: Ps) -> Result<()> {
        let (tr, iu) = (self.traffic, i as usize);
        if self.nics.offer(i, self.port[iu], tr.dst[iu], tr.vc[iu]) {
            self.start(i, t)?;
        }
        Ok(())
    }

    /// Transfers that end at `t`; the next message of each queue starts.
    fn transfers_end(&mut self, t: Ps, ended: &mut Vec<u32>) -> Result<()> {
        self.sh.finish_due(t, ended);
        for msg in ended.drain(..) {
            self.arrivals
                .push(Reverse((t + self.tail[msg as usize], msg)));
            if let Some(next) = self.nics.sent(msg) {
                self.start(next, t)?;
            }
        }
        Ok(())
    }

    fn result(&self, complete: bool, end: Ps, events: u64, wall: f64, keep: bool) -> RunResult {
        let column = |v: &Vec<Ps>| if keep { v.clone() } else { Vec::new() };
        report(
            &self.fab,
            &self.sh,
            column(&self.send),
            column(&self.deliver),
            self.payload.clone(),
            complete,
            end,
            events,
            wall,
            keep,
        )
    }
}

/// Runs `traffic` on `spec` at flow fidelity (same checks and errors as
/// the cycle engine's `run_messages`).
pub fn run_messages(
    spec: &FabricSpec,
    traffic: &MessageTraffic,
    opts: &RunOptions,
) -> Result<RunResult> {
    spec.validate()?;
    opts.validate().map_err(|e| e.within("options"))?;
    let mut fab = FlowFabric::new(spec)?;
    let changes = capacity_changes(opts, &mut fab, spec)?;
    traffic.validate(fab.endpoints, fab.params.vcs)?;
    traffic.validate_routes(&spec.topology)?;
    let limit = limit_ps(spec, opts)?;
    let started = Instant::now();
    let m = traffic.len();
    let port = (0..m)
        .map(|i| fab.pick_port(traffic.src[i], traffic.dst[i]))
        .collect();
    let mut order: Vec<u32> = (0..m as u32).collect();
    order.sort_by_key(|&i| (traffic.inject_ps[i as usize], i));
    let mut run = MessageRun {
        traffic,
        sh: Sharing::new(fab.capacity.clone()),
        nics: Nics::new(fab.num_ports()),
        port,
        send: vec![NEVER_PS; m],
        deliver: vec![NEVER_PS; m],
        tail: vec![0; m],
        payload: vec![0; fab.num_dirs()],
        arrivals: BinaryHeap::new(),
        path: Vec::new(),
        fab,
    };
    let mut ended = Vec::new();
    let (mut next, mut delivered, mut events) = (0usize, 0u64, 0u64);
    let mut next_change = 0usize;
    let mut polling = Polling::new();
    start_link_samples(&mut run.sh, &run.fab, opts);
    let mut now = 0;
    let complete = loop {
        let offer = order.get(next).map(|&i| traffic.inject_ps[i as usize]);
        let arrival = run.arrivals.peek().map(|r| r.0 .0);
        let change = changes.get(next_change).map(|c| c.at_ps);
        let Some(t) = [offer, run.sh.next_finish(), arrival, change]
            .into_iter()
            .flatten()
            .min()
        else {
            if delivered as usize == m {
                break true;
            }
            let what = format!("{delivered} of {m} messages delivered; nothing can move");
            let partial = run.result(false, now, events, 0.0, true);
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
        while let Some(&Reverse((at, msg))) = run.arrivals.peek() {
            if at > t {
                break;
            }
            run.arrivals.pop();
            run.deliver[msg as usize] = at;
            delivered += 1;
        }
        while let Some(&i) = order.get(next) {
            if traffic.inject_ps[i as usize] > t {
                break;
            }
            next += 1;
            run.offer(i, t)?;
        }
        run.sh.reshare(t);
        polling.turn(&run.fab, t, delivered, m as u64)?;
    };
    let end = if complete {
        run.deliver.iter().copied().max().unwrap_or(0)
    } else {
        // (nothing at or past the limit happened: the loop stops before it)
        limit.saturating_sub(1)
    };
    // a partial result keeps its messages: they say how far the run got
    let keep = opts.keep_messages || !complete;
    let res = run.result(complete, end, events, started.elapsed().as_secs_f64(), keep);
    if !complete {
        let message = format!(
            "run limit reached at {} ps with {delivered} of {m} messages delivered (max_cycles={:?}, max_time_ns={:?})",
            res.end_ps, opts.max_cycles, opts.max_time_ns
        );
        return Err(crate::engine::limit_error(message, res));
    }
    Ok(res)
}
