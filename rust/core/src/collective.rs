//! Runs a collective schedule over a fabric: a DAG of operations per rank
//! (send, receive, reduce, copy) executed against the network model.
//!
//! ```text
//!  ready ops --send--> Network::inject (a message) --delivered--> send and
//!            --reduce / copy--> a timer (bytes x time per byte)    its receive done
//!  an op is ready when every op it waits for is done; a receive is done when
//!  it is ready and its send's message has arrived
//! ```
//!
//! The executor is itself an engine `Model` wrapping the network's, so the
//! driver's idle skipping, limits and deadlock reports apply unchanged.

use crate::engine::{self, Activity, Model, Stop};
use crate::error::{Error, Result, WaitingChannel};
use crate::network::Network;
use crate::result::RunResult;
use crate::spec::{FabricSpec, RunOptions};
use crate::time::Cycle;
use crate::traffic::MessageTraffic;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub const SEND: u8 = 0;
pub const RECV: u8 = 1;
pub const REDUCE: u8 = 2;
pub const COPY: u8 = 3;

/// A schedule as columns (one row per operation), dependencies in CSR form.
#[derive(Clone, Debug, Default)]
pub struct ScheduleColumns {
    pub op: Vec<u8>,
    pub rank: Vec<u32>,
    pub peer: Vec<u32>,
    pub bytes: Vec<u64>,
    /// For a receive: the send it matches.
    pub matched: Vec<i64>,
    pub dep_ptr: Vec<u64>,
    pub deps: Vec<u32>,
    /// Compute time of reduce and copy, ps per byte.
    pub reduce_ps_per_byte: f64,
    pub copy_ps_per_byte: f64,
}

impl ScheduleColumns {
    pub fn validate(&self, ranks: usize) -> Result<()> {
        let n = self.op.len();
        for (name, len) in [
            ("rank", self.rank.len()),
            ("peer", self.peer.len()),
            ("bytes", self.bytes.len()),
            ("matched", self.matched.len()),
        ] {
            if len != n {
                return Err(Error::spec(
                    format!("schedule.{name}"),
                    format!("has {len} rows, the schedule {n}"),
                ));
            }
        }
        if self.dep_ptr.len() != n + 1
            || self.dep_ptr.last().copied() != Some(self.deps.len() as u64)
        {
            return Err(Error::spec(
                "schedule.dep_ptr",
                "is not a CSR index of the dependencies",
            ));
        }
        for i in 0..n {
            let (k, r, p) = (self.op[i], self.rank[i] as usize, self.peer[i] as usize);
            if k > COPY || r >= ranks || (k <= RECV && p >= ranks) {
                return Err(Error::spec(
                    format!("schedule[{i}]"),
                    format!("op {k} on rank {r} (peer {p}) is not an operation between the fabric's {ranks} endpoints"),
                ));
            }
            if k == RECV {
                let m = self.matched[i];
                if m < 0 || m as usize >= n || self.op[m as usize] != SEND {
                    return Err(Error::spec(
                        format!("schedule.matched[{i}]"),
                        "a receive must name its send",
                    ));
                }
            }
        }
        if self.deps.iter().any(|&d| d as usize >= n) {
            return Err(Error::spec(
                "schedule.deps",
                "names an operation that does not exist",
            ));
        }
        for (name, v) in [
            ("reduce_ns_per_byte", self.reduce_ps_per_byte),
            ("copy_ns_per_byte", self.copy_ps_per_byte),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::spec(
                    name,
                    format!("must be a finite number >= 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// What a collective run returns.
#[derive(Clone, Debug)]
pub struct CollectiveResult {
    /// The network's result (links, and the messages the sends became).
    pub run: RunResult,
    /// Per operation: the cycle it started and the cycle it finished.
    pub start: Vec<Cycle>,
    pub finish: Vec<Cycle>,
    /// Per send: the message (row of `run`'s messages) it became.
    pub message: Vec<i64>,
}

struct Executor {
    net: Network,
    s: ScheduleColumns,
    /// Dependencies not yet done (and, for a receive, its message).
    waiting: Vec<u32>,
    /// Who waits for each op (CSR), and each send's receive.
    user_ptr: Vec<u32>,
    users: Vec<u32>,
    recv_of: Vec<u32>,
    /// Ops to start next step (in the order they became ready), and the
    /// buffer they are started from (swapped each step: no allocation).
    ready: Vec<u32>,
    starting: Vec<u32>,
    /// Timers of running reduces and copies.
    timers: BinaryHeap<Reverse<(Cycle, u32)>>,
    send_of_msg: Vec<u32>,
    start: Vec<Cycle>,
    finish: Vec<Cycle>,
    left: usize,
    cycle_ps: f64,
    /// Completions to process (reused: no allocation per operation).
    stack: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Executor {
    fn new(mut net: Network, s: ScheduleColumns) -> Self {
        let n = s.op.len();
        let mut waiting = vec![0u32; n];
        let mut count = vec![0u32; n + 1];
        let mut recv_of = vec![NONE; n];
        for i in 0..n {
            let deps = &s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize];
            waiting[i] = deps.len() as u32;
            for &d in deps {
                count[d as usize + 1] += 1;
            }
            if s.op[i] == RECV {
                waiting[i] += 1;
                recv_of[s.matched[i] as usize] = i as u32;
            }
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut users = vec![0u32; count[n] as usize];
        for i in 0..n {
            for &d in &s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize] {
                users[fill[d as usize] as usize] = i as u32;
                fill[d as usize] += 1;
            }
        }
        let ready = (0..n as u32)
            .filter(|&i| waiting[i as usize] == 0)
            .collect();
        net.tally.fresh = Some(Vec::new());
        let (num, den) = net.params.clock.ratio();
        Self {
            cycle_ps: num as f64 / den as f64,
            net,
            waiting,
            user_ptr: count,
            users,
            recv_of,
            ready,
            starting: Vec::new(),
            timers: BinaryHeap::new(),
            send_of_msg: Vec::new(),
            start: vec![Cycle::MAX; n],
            finish: vec![Cycle::MAX; n],
            left: n,
            stack: Vec::new(),
            s,
        }
    }

    /// Marks `op` done at `c` and releases what waits for it.
    fn complete(&mut self, op: u32, c: Cycle) {
        let mut stack = std::mem::take(&mut self.stack);
        stack.push(op);
        while let Some(i) = stack.pop() {
            let iu = i as usize;
            self.finish[iu] = c;
            if self.start[iu] == Cycle::MAX {
                self.start[iu] = c;
            }
            self.left -= 1;
            let mut release = |u: u32, stack: &mut Vec<u32>, ready: &mut Vec<u32>| {
                let w = &mut self.waiting[u as usize];
                *w -= 1;
                if *w == 0 {
                    if self.s.op[u as usize] == RECV {
                        stack.push(u); // its message is in: done now
                    } else {
                        ready.push(u);
                    }
                }
            };
            let (lo, hi) = (self.user_ptr[iu] as usize, self.user_ptr[iu + 1] as usize);
            for k in lo..hi {
                release(self.users[k], &mut stack, &mut self.ready);
            }
            if self.s.op[iu] == SEND && self.recv_of[iu] != NONE {
                release(self.recv_of[iu], &mut stack, &mut self.ready);
            }
        }
        self.stack = stack;
    }

    fn begin(&mut self, op: u32, c: Cycle) {
        let i = op as usize;
        self.start[i] = c;
        let bytes = self.s.bytes[i];
        match self.s.op[i] {
            SEND if bytes == 0 => self.complete(op, c),
            SEND => {
                let msg = self.net.inject(self.s.rank[i], self.s.peer[i], bytes, 0, c);
                if self.send_of_msg.len() <= msg.index() {
                    self.send_of_msg.resize(msg.index() + 1, NONE);
                }
                self.send_of_msg[msg.index()] = op;
            }
            kind => {
                let per = if kind == REDUCE {
                    self.s.reduce_ps_per_byte
                } else {
                    self.s.copy_ps_per_byte
                };
                let cycles = (bytes as f64 * per / self.cycle_ps).ceil() as u64;
                self.timers.push(Reverse((c + cycles, op)));
            }
        }
    }
}

impl Model for Executor {
    fn step(&mut self, c: Cycle) -> Result<Activity> {
        let mut starting = std::mem::take(&mut self.starting);
        std::mem::swap(&mut starting, &mut self.ready);
        for op in starting.drain(..) {
            self.begin(op, c);
        }
        self.starting = starting;
        let mut act = self.net.step(c)?;
        let fresh = self
            .net
            .tally
            .fresh
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for msg in &fresh {
            let op = self.send_of_msg[msg.index()];
            self.complete(op, c);
            act.progressed = true;
        }
        if let Some(fresh_buf) = self.net.tally.fresh.as_mut() {
            *fresh_buf = fresh;
            fresh_buf.clear();
        }
        while let Some(&Reverse((at, op))) = self.timers.peek() {
            if at > c {
                break;
            }
            self.timers.pop();
            self.complete(op, c);
            act.progressed = true;
        }
        // What became ready starts next cycle.
        act.busy |= !self.ready.is_empty();
        Ok(act)
    }

    fn account_idle(&mut self, from: Cycle, to: Cycle) {
        self.net.account_idle(from, to);
    }

    fn next_event(&self) -> Option<Cycle> {
        let timer = self.timers.peek().map(|r| r.0 .0);
        match (self.net.next_event(), timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn done(&self) -> bool {
        self.left == 0
    }

    fn work_in_system(&self) -> bool {
        self.left > 0
    }

    fn min_watchdog_cycles(&self) -> u64 {
        self.net.min_watchdog_cycles()
    }

    fn check_invariants(&self, c: Cycle) -> Result<()> {
        self.net.check_invariants(c)
    }

    fn waiting(&self) -> Vec<WaitingChannel> {
        let mut out = self.net.waiting();
        if let Some(i) = (0..self.s.op.len()).find(|&i| self.finish[i] == Cycle::MAX) {
            out.push(WaitingChannel {
                node: self.s.rank[i],
                port: 0,
                vc: 0,
                reason: format!(
                    "schedule op {i} (kind {}) on rank {} waits for {} operation(s); {} of {} ops are not done",
                    self.s.op[i],
                    self.s.rank[i],
                    self.waiting[i],
                    self.left,
                    self.s.op.len()
                ),
            });
        }
        out
    }
}

/// Runs schedule `s` on the fabric `spec` (endpoint `r` is rank `r`).
pub fn run_collective(
    spec: &FabricSpec,
    s: ScheduleColumns,
    opts: &RunOptions,
) -> Result<CollectiveResult> {
    spec.validate()?;
    opts.validate().map_err(|e| e.within("options"))?;
    let params = spec.link.resolve().map_err(|e| e.within("link"))?;
    let ranks = spec.topology.num_endpoints();
    s.validate(ranks)?;
    let clock = params.clock;
    let mut limit = opts.max_cycles.unwrap_or(Cycle::MAX);
    if let Some(t) = opts.max_time_ns {
        limit =
            limit.min(clock.cycle_at_or_after(crate::spec::link::ns_to_ps(t).saturating_add(1)));
    }
    let net = Network::new(
        spec,
        params,
        &MessageTraffic::default(),
        opts.seed,
        &opts.faults,
    )?;
    let mut ex = Executor::new(net, s);
    let started = std::time::Instant::now();
    let stop = engine::drive(&mut ex, opts, limit)?;
    let wall = started.elapsed().as_secs_f64();
    let (cycles, complete) = match stop {
        Stop::Done { last } => (last + 1, true),
        Stop::Limit { limit } => (limit, false),
        Stop::Deadlock { cycle, .. } => {
            let waiting = ex.waiting();
            let message = engine::deadlock_message(&stop, &waiting, ex.net.undelivered());
            return Err(Error::Deadlock {
                cycle,
                time_ps: clock.start_ps(cycle),
                message: format!("collective schedule stalled: {message}"),
                waiting,
                partial: Box::new(crate::simulation::network_report(
                    &ex.net,
                    cycle + 1,
                    false,
                    wall,
                )),
            });
        }
    };
    let run = crate::simulation::network_report(&ex.net, cycles, complete, wall);
    let mut message = vec![-1i64; ex.s.op.len()];
    for (m, &op) in ex.send_of_msg.iter().enumerate() {
        if op != NONE {
            message[op as usize] = m as i64;
        }
    }
    Ok(CollectiveResult {
        run,
        start: ex.start,
        finish: ex.finish,
        message,
    })
}
