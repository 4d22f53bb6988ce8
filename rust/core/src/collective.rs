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
//!
//! With memory ([`CollectiveMemory`]), every rank has an HBM stack: a send
//! reads its data piece by piece (each piece leaves as a message once read)
//! and is done when every piece has been written into the receiver's stack;
//! a reduce reads two inputs and then writes its output, a copy reads one
//! and writes one, each done when its writes are and its compute time has
//! passed.

use crate::collective_dag::Dag;
pub use crate::collective_memory::CollectiveMemory;
use crate::collective_memory::{Access, RankMemory};
use crate::engine::{Activity, Model};
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
#[derive(Clone, Debug)]
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
    /// Per operation (empty: none): a fixed latency (ps) between the op
    /// becoming ready and its start (a protocol's per-hop latency on a send,
    /// a call's launch latency on the ops that wait for nothing). A latency,
    /// not an occupancy: ops delayed together wait side by side.
    pub delay_ps: Vec<u64>,
    /// Bytes on the wire per byte of data (>= 1): a protocol's flags and
    /// framing (NCCL's LL carries 8 B of flags with every 8 B of data: 2).
    pub wire_bytes_per_byte: f64,
}

impl Default for ScheduleColumns {
    fn default() -> Self {
        Self {
            op: Vec::new(),
            rank: Vec::new(),
            peer: Vec::new(),
            bytes: Vec::new(),
            matched: Vec::new(),
            dep_ptr: vec![0],
            deps: Vec::new(),
            reduce_ps_per_byte: 0.0,
            copy_ps_per_byte: 0.0,
            delay_ps: Vec::new(),
            wire_bytes_per_byte: 1.0,
        }
    }
}

impl ScheduleColumns {
    pub fn validate(&self, ranks: usize) -> Result<()> {
        let n = self.op.len();
        if !self.delay_ps.is_empty() && self.delay_ps.len() != n {
            return Err(Error::spec(
                "schedule.delay_ps",
                format!("has {} rows, the schedule {n}", self.delay_ps.len()),
            ));
        }
        if !(self.wire_bytes_per_byte.is_finite()
            && (1.0..=64.0).contains(&self.wire_bytes_per_byte))
        {
            return Err(Error::spec(
                "wire_bytes_per_byte",
                format!(
                    "must be a number in 1..=64, got {}",
                    self.wire_bytes_per_byte
                ),
            ));
        }
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
    /// Per message of `run`: the send it carries (a piece of it, with memory),
    /// and its bytes of data (its wire bytes are `wire_bytes_per_byte` more).
    pub msg_op: Vec<u32>,
    pub msg_bytes: Vec<u64>,
    /// Per rank with memory: its stack's counters, and the CK cycles it ran.
    pub memory: Vec<crate::hbm::Counters>,
}

struct Executor {
    net: Network,
    s: ScheduleColumns,
    dag: Dag,
    /// Ops to start next step (in the order they became ready), and the
    /// buffer they are started from (swapped each step: no allocation).
    ready: Vec<u32>,
    starting: Vec<u32>,
    /// Timers of running reduces and copies.
    timers: BinaryHeap<Reverse<(Cycle, u32)>>,
    /// Ops waiting out their fixed latency (`delay_ps`) before they begin.
    delays: BinaryHeap<Reverse<(Cycle, u32)>>,
    send_of_msg: Vec<u32>,
    start: Vec<Cycle>,
    finish: Vec<Cycle>,
    cycle_ps: f64,
    clock: crate::time::ClockDomain,
    msg_bytes: Vec<u64>,
    /// With memory: the ranks' stacks; per op, the accesses (or, for a
    /// send, the pieces to land) left in its current phase, whether a reduce
    /// or copy is writing yet, and its parts (memory, compute) not done.
    mem: Option<RankMemory>,
    /// Ranks from this one on are switch reduction units: no memory, and
    /// they reduce and copy at line rate (no compute time).
    units_from: u32,
    mem_left: Vec<u32>,
    writing: Vec<bool>,
    parts_left: Vec<u8>,
    mem_done: Vec<Access>,
}

const NONE: u32 = u32::MAX;

impl Executor {
    fn new(mut net: Network, s: ScheduleColumns, mem: Option<RankMemory>, units_from: u32) -> Self {
        let n = s.op.len();
        let (dag, ready) = Dag::new(&s);
        net.tally.fresh = Some(Vec::new());
        let (num, den) = net.params.clock.ratio();
        Self {
            cycle_ps: num as f64 / den as f64,
            clock: net.params.clock,
            msg_bytes: Vec::new(),
            mem,
            units_from,
            mem_left: vec![0; n],
            writing: vec![false; n],
            parts_left: vec![1; n],
            mem_done: Vec::new(),
            net,
            dag,
            ready,
            starting: Vec::new(),
            timers: BinaryHeap::new(),
            delays: BinaryHeap::new(),
            send_of_msg: Vec::new(),
            start: vec![Cycle::MAX; n],
            finish: vec![Cycle::MAX; n],
            s,
        }
    }

    /// Marks `op` done at `c` and releases what waits for it.
    fn complete(&mut self, op: u32, c: Cycle) {
        let (start, finish) = (&mut self.start, &mut self.finish);
        self.dag.complete(op, &self.s.op, &mut self.ready, |i| {
            let i = i as usize;
            finish[i] = c;
            if start[i] == Cycle::MAX {
                start[i] = c;
            }
        });
    }

    fn inject(&mut self, op: u32, data_bytes: u64, c: Cycle) {
        let i = op as usize;
        let bytes = if self.s.wire_bytes_per_byte > 1.0 {
            (data_bytes as f64 * self.s.wire_bytes_per_byte).ceil() as u64
        } else {
            data_bytes
        };
        let msg = self.net.inject(self.s.rank[i], self.s.peer[i], bytes, 0, c);
        if self.send_of_msg.len() <= msg.index() {
            self.send_of_msg.resize(msg.index() + 1, NONE);
            self.msg_bytes.resize(msg.index() + 1, 0);
        }
        self.send_of_msg[msg.index()] = op;
        // the data it carries (what lands in the receiver's memory), not its wire bytes
        self.msg_bytes[msg.index()] = data_bytes;
    }

    /// Whether `rank` has a stack (memory is on and it is no reduction unit).
    fn has_memory(&self, rank: u32) -> bool {
        self.mem.is_some() && rank < self.units_from
    }

    /// `op` is ready at `c`: it begins now, or after its fixed latency.
    fn ready_at(&mut self, op: u32, c: Cycle) {
        let i = op as usize;
        let delay = self.s.delay_ps.get(i).copied().unwrap_or(0);
        if delay == 0 {
            self.begin(op, c);
        } else {
            self.start[i] = c;
            let cycles = (delay as f64 / self.cycle_ps).ceil() as u64;
            self.delays.push(Reverse((c + cycles, op)));
        }
    }

    fn begin(&mut self, op: u32, c: Cycle) {
        let i = op as usize;
        if self.start[i] == Cycle::MAX {
            self.start[i] = c;
        }
        let bytes = self.s.bytes[i];
        let t = self.clock.start_ps(c);
        let rank = self.s.rank[i];
        let memory = self.has_memory(rank) && bytes > 0;
        match self.s.op[i] {
            SEND if bytes == 0 => self.complete(op, c),
            SEND if memory => {
                // each piece is read, sent, and written at the receiver
                let n = self
                    .mem
                    .as_mut()
                    .expect("memory")
                    .access_pieces(rank, op, bytes, 1, false, t);
                self.mem_left[i] = n;
            }
            SEND if self.mem.is_some() => {
                // a unit sends at once, in the pieces the receiver writes
                let (n, size, last) = self.mem.as_ref().expect("memory").pieces(bytes);
                for k in 0..n {
                    self.inject(op, if k + 1 == n { last } else { size }, c);
                }
                self.mem_left[i] = n as u32;
            }
            SEND => self.inject(op, bytes, c),
            kind => {
                let per = if rank >= self.units_from {
                    0.0
                } else if kind == REDUCE {
                    self.s.reduce_ps_per_byte
                } else {
                    self.s.copy_ps_per_byte
                };
                let cycles = (bytes as f64 * per / self.cycle_ps).ceil() as u64;
                self.timers.push(Reverse((c + cycles, op)));
                if memory {
                    let inputs = if kind == REDUCE { 2 } else { 1 };
                    self.mem_left[i] = self
                        .mem
                        .as_mut()
                        .expect("memory")
                        .access_pieces(rank, op, bytes, inputs, false, t);
                    self.parts_left[i] = 2;
                }
            }
        }
    }

    /// One part (memory or compute) of a reduce or copy is done.
    fn part_done(&mut self, op: u32, c: Cycle) {
        let left = &mut self.parts_left[op as usize];
        *left -= 1;
        if *left == 0 {
            self.complete(op, c);
        }
    }

    /// A memory access finished (seen at cycle `c`).
    fn access_done(&mut self, a: Access, c: Cycle) {
        let i = a.op as usize;
        if self.s.op[i] == SEND {
            if !a.write {
                self.inject(a.op, a.bytes as u64, c); // a piece read: send it
                return;
            }
        } else if !self.writing[i] {
            self.mem_left[i] -= 1;
            if self.mem_left[i] == 0 {
                // inputs read: write the output
                self.writing[i] = true;
                let t = self.clock.start_ps(c);
                let (rank, bytes) = (self.s.rank[i], self.s.bytes[i]);
                let mem = self.mem.as_mut().expect("memory");
                self.mem_left[i] = mem.access_pieces(rank, a.op, bytes, 1, true, t);
            }
            return;
        }
        self.written(a.op, c);
    }

    /// A piece of `op`'s output (a send's: at its receiver) is written.
    fn written(&mut self, op: u32, c: Cycle) {
        let i = op as usize;
        self.mem_left[i] -= 1;
        if self.mem_left[i] == 0 {
            if self.s.op[i] == SEND {
                self.complete(op, c);
            } else {
                self.part_done(op, c);
            }
        }
    }
}

impl Model for Executor {
    fn step(&mut self, c: Cycle) -> Result<Activity> {
        let mut progressed = false;
        if let Some(mut mem) = self.mem.take() {
            let mut done = std::mem::take(&mut self.mem_done);
            mem.advance(c, self.clock.start_ps(c), |a| done.push(a))?;
            self.mem = Some(mem);
            progressed = !done.is_empty();
            for a in done.drain(..) {
                self.access_done(a, c);
            }
            self.mem_done = done;
        }
        let mut starting = std::mem::take(&mut self.starting);
        std::mem::swap(&mut starting, &mut self.ready);
        for op in starting.drain(..) {
            self.ready_at(op, c);
        }
        while let Some(&Reverse((at, op))) = self.delays.peek() {
            if at > c {
                break;
            }
            self.delays.pop();
            self.begin(op, c);
            progressed = true;
        }
        self.starting = starting;
        let mut act = self.net.step(c)?;
        act.progressed |= progressed;
        let fresh = self
            .net
            .tally
            .fresh
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for msg in &fresh {
            let op = self.send_of_msg[msg.index()];
            let (peer, bytes) = (self.s.peer[op as usize], self.msg_bytes[msg.index()]);
            if self.has_memory(peer) {
                // the piece is written into the receiver's stack
                let t = self.clock.start_ps(c);
                self.mem
                    .as_mut()
                    .expect("memory")
                    .access(peer, op, bytes, true, t);
            } else if self.mem.is_some() {
                self.written(op, c); // a unit takes it as it comes
            } else {
                self.complete(op, c);
            }
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
            self.part_done(op, c);
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
        let delay = self.delays.peek().map(|r| r.0 .0);
        let mem = self.mem.as_ref().and_then(RankMemory::next_event);
        [self.net.next_event(), timer, delay, mem]
            .into_iter()
            .flatten()
            .min()
    }

    fn done(&self) -> bool {
        self.dag.left == 0
    }

    fn work_in_system(&self) -> bool {
        self.dag.left > 0
    }

    fn min_watchdog_cycles(&self) -> u64 {
        let refresh = self.mem.as_ref().map_or(0, |m| {
            m.devices
                .iter()
                .map(|d| {
                    let ck = d.ck.start_ps(d.mem.min_watchdog_cycles());
                    self.clock.cycle_at_or_after(ck)
                })
                .max()
                .unwrap_or(0)
        });
        self.net.min_watchdog_cycles() + refresh
    }

    fn check_invariants(&self, c: Cycle) -> Result<()> {
        self.net.check_invariants(c)
    }

    fn progress(&self) -> (u64, u64) {
        let total = self.s.op.len() as u64;
        (total - self.dag.left as u64, total)
    }

    fn cyclic_wait(&self) -> bool {
        self.net.cyclic_wait()
    }

    fn sampled_links(&mut self) -> Option<&mut dyn crate::link_samples::SampledLinks> {
        Some(&mut self.net)
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
                    self.dag.waiting(i),
                    self.dag.left,
                    self.s.op.len()
                ),
            });
        }
        out
    }
}

/// Checks the inputs of a collective run: the spec, the options, and that
/// `s` is a schedule over the fabric's endpoints whose sends are routable.
pub(crate) fn check_schedule(
    spec: &FabricSpec,
    s: &ScheduleColumns,
    opts: &RunOptions,
) -> Result<()> {
    spec.validate()?;
    opts.validate().map_err(|e| e.within("options"))?;
    s.validate(spec.topology.num_endpoints())?;
    for i in 0..s.op.len() {
        if s.op[i] == SEND {
            if let Some(why) = spec.topology.unroutable(s.rank[i], s.peer[i]) {
                return Err(Error::spec(format!("schedule[{i}]"), why));
            }
        }
    }
    Ok(())
}

/// Runs schedule `s` on the fabric `spec` (endpoint `r` is rank `r`).
pub fn run_collective(
    spec: &FabricSpec,
    s: ScheduleColumns,
    opts: &RunOptions,
    memory: Option<&CollectiveMemory>,
) -> Result<CollectiveResult> {
    if let Some(m) = memory {
        if !(1..=1 << 24).contains(&m.piece_bytes) {
            return Err(Error::spec(
                "memory.piece_bytes",
                format!("must be in 1..=16777216, got {}", m.piece_bytes),
            ));
        }
    }
    if opts.fidelity == crate::spec::run::Fidelity::Flow {
        return crate::flow::run_collective(spec, s, opts, memory);
    }
    check_schedule(spec, &s, opts)?;
    let params = spec.link_params()?;
    let units_from = spec.topology.memory_endpoints();
    let clock = params.clock;
    let limit = opts.limit_cycle(clock);
    let net = Network::new(
        spec,
        params,
        &MessageTraffic::default(),
        opts.seed,
        &opts.faults,
    )?;
    let mem = match memory {
        Some(m) => Some(RankMemory::new(m, units_from, clock)?),
        None => None,
    };
    let mut ex = Executor::new(net, s, mem, units_from as u32);
    let (cycles, complete, wall) =
        crate::simulation::drive_to_end(&mut ex, opts, limit, "collective schedule", |e| &e.net)?;
    let mut run = crate::simulation::network_report(&ex.net, cycles, complete, wall);
    let keep = opts.keep_messages || !complete;
    run.keep_messages(keep);
    if !keep {
        ex.send_of_msg = Vec::new();
        ex.msg_bytes = Vec::new();
    }
    let memory = ex.mem.as_mut().map_or(Vec::new(), |m| {
        m.devices
            .iter_mut()
            .map(|d| std::mem::take(&mut d.mem.sink.counters))
            .collect()
    });
    Ok(CollectiveResult {
        run,
        start: ex.start,
        finish: ex.finish,
        msg_op: ex.send_of_msg,
        msg_bytes: ex.msg_bytes,
        memory,
    })
}
