//! A collective schedule at flow fidelity: the same DAG as the cycle
//! executor's (`collective_dag`), in ps. A send becomes a flow when it
//! begins (after its fixed latency, `delay_ps`); its receive is done when
//! the flow's last flit is in; a reduce or copy takes its compute time.

use super::nic::Nics;
use super::{
    apply_changes, capacity_changes, limit_ps, report, stalled, start_link_samples, FlowFabric,
    Polling, Sharing,
};
use crate::collective::{
    check_schedule, CollectiveMemory, CollectiveResult, ScheduleColumns, REDUCE, SEND,
};
use crate::collective_dag::Dag;
use crate::collective_memory::{Access, RankMemory};
use crate::error::Result;
use crate::result::NEVER_PS;
use crate::spec::{FabricSpec, RunOptions};
use crate::time::{Cycle, Ps};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A timer's kind: the op begins (its fixed latency is over), or is done
/// (its compute time passed, or its message arrived).
const BEGIN: u8 = 0;
const DONE: u8 = 1;
/// A message arrived: its send (and so its receive) is done.
const ARRIVE: u8 = 2;

struct FlowExecutor {
    fab: FlowFabric,
    sh: Sharing,
    nics: Nics,
    s: ScheduleColumns,
    dag: Dag,
    ready: Vec<u32>,
    timers: BinaryHeap<Reverse<(Ps, u8, u32)>>,
    start: Vec<Ps>,
    finish: Vec<Ps>,
    /// Per message (one per send that moved data): its send, data bytes,
    /// first-flit and delivery times, and its head's remaining latency.
    msg_op: Vec<u32>,
    msg_bytes: Vec<u64>,
    /// Per message: its bytes on the wire.
    msg_wire: Vec<u64>,
    send_ps: Vec<Ps>,
    deliver_ps: Vec<Ps>,
    tail_ps: Vec<Ps>,
    payload: Vec<u64>,
    path: Vec<u32>,
    units_from: u32,
    /// With memory: the ranks' stacks (cycle-level, as the cycle executor's),
    /// and per op the accesses or pieces left in its phase, whether a
    /// reduce or copy is writing yet, and its parts (memory, compute) not done.
    mem: Option<RankMemory>,
    mem_left: Vec<u32>,
    writing: Vec<bool>,
    parts_left: Vec<u8>,
    mem_done: Vec<Access>,
}

impl FlowExecutor {
    fn complete(&mut self, op: u32, t: Ps) {
        let (start, finish) = (&mut self.start, &mut self.finish);
        self.dag.complete(op, &self.s.op, &mut self.ready, |i| {
            let i = i as usize;
            finish[i] = t;
            if start[i] == NEVER_PS {
                start[i] = t;
            }
        });
    }

    fn ready_at(&mut self, op: u32, t: Ps) -> Result<()> {
        let delay = self.s.delay_ps.get(op as usize).copied().unwrap_or(0);
        if delay == 0 {
            return self.begin(op, t);
        }
        self.start[op as usize] = t;
        self.timers
            .push(Reverse((t.saturating_add(delay), BEGIN, op)));
        Ok(())
    }

    /// Send `op` offers a message of `bytes` of data at `t`.
    fn inject(&mut self, op: u32, bytes: u64, t: Ps) -> Result<()> {
        let i = op as usize;
        let wire = if self.s.wire_bytes_per_byte > 1.0 {
            (bytes as f64 * self.s.wire_bytes_per_byte).ceil() as u64
        } else {
            bytes
        };
        let msg = self.msg_op.len() as u32;
        self.msg_op.push(op);
        self.msg_bytes.push(bytes);
        self.msg_wire.push(wire);
        self.send_ps.push(NEVER_PS);
        self.deliver_ps.push(NEVER_PS);
        self.tail_ps.push(0);
        let port = self.fab.pick_port(self.s.rank[i], self.s.peer[i]);
        if self.nics.offer(msg, port, self.s.peer[i], 0) {
            self.start_flow(msg, t)?;
        }
        Ok(())
    }

    /// Whether `rank` has a stack (memory is on and it is no reduction unit).
    fn has_memory(&self, rank: u32) -> bool {
        self.mem.is_some() && rank < self.units_from
    }

    /// Gives `rank`'s stack one access per piece of `bytes` (`per_piece` of
    /// each) at `t`; returns how many.
    fn read(&mut self, rank: u32, op: u32, bytes: u64, per_piece: u32, t: Ps) -> u32 {
        let mem = self.mem.as_mut().expect("memory");
        mem.access_pieces(rank, op, bytes, per_piece, false, t)
    }

    fn begin(&mut self, op: u32, t: Ps) -> Result<()> {
        let i = op as usize;
        if self.start[i] == NEVER_PS {
            self.start[i] = t;
        }
        let bytes = self.s.bytes[i];
        let rank = self.s.rank[i];
        let memory = self.has_memory(rank) && bytes > 0;
        match self.s.op[i] {
            SEND if bytes == 0 => self.complete(op, t),
            SEND if memory => {
                // each piece is read, sent, and written at the receiver
                self.mem_left[i] = self.read(rank, op, bytes, 1, t);
            }
            SEND if self.mem.is_some() => {
                // a unit sends at once, in the pieces the receiver writes
                let (n, size, last) = self.mem.as_ref().expect("memory").pieces(bytes);
                for k in 0..n {
                    self.inject(op, if k + 1 == n { last } else { size }, t)?;
                }
                self.mem_left[i] = n as u32;
            }
            SEND => self.inject(op, bytes, t)?,
            kind => {
                let per_byte = if rank >= self.units_from {
                    0.0
                } else if kind == REDUCE {
                    self.s.reduce_ps_per_byte
                } else {
                    self.s.copy_ps_per_byte
                };
                let ps = (bytes as f64 * per_byte).ceil() as Ps;
                self.timers.push(Reverse((t.saturating_add(ps), DONE, op)));
                if memory {
                    let inputs = if kind == REDUCE { 2 } else { 1 };
                    self.mem_left[i] = self.read(rank, op, bytes, inputs, t);
                    self.parts_left[i] = 2;
                }
            }
        }
        Ok(())
    }

    /// One part (memory or compute) of a reduce or copy is done.
    fn part_done(&mut self, op: u32, t: Ps) {
        let left = &mut self.parts_left[op as usize];
        *left -= 1;
        if *left == 0 {
            self.complete(op, t);
        }
    }

    /// A memory access finished (seen at `t`).
    fn access_done(&mut self, a: Access, t: Ps) -> Result<()> {
        let i = a.op as usize;
        if self.s.op[i] == SEND {
            if !a.write {
                return self.inject(a.op, a.bytes as u64, t); // a piece read: send it
            }
        } else if !self.writing[i] {
            self.mem_left[i] -= 1;
            if self.mem_left[i] == 0 {
                // inputs read: write the output
                self.writing[i] = true;
                let (rank, bytes) = (self.s.rank[i], self.s.bytes[i]);
                let mem = self.mem.as_mut().expect("memory");
                self.mem_left[i] = mem.access_pieces(rank, a.op, bytes, 1, true, t);
            }
            return Ok(());
        }
        self.written(a.op, t);
        Ok(())
    }

    /// A piece of `op`'s output (a send's: at its receiver) is written.
    fn written(&mut self, op: u32, t: Ps) {
        let i = op as usize;
        self.mem_left[i] -= 1;
        if self.mem_left[i] == 0 {
            if self.s.op[i] == SEND {
                self.complete(op, t);
            } else {
                self.part_done(op, t);
            }
        }
    }

    /// Message `msg` arrived at `t`: its piece is written at the receiver
    /// (with memory), or its send is done.
    fn arrived(&mut self, msg: u32, t: Ps) {
        self.deliver_ps[msg as usize] = t;
        let op = self.msg_op[msg as usize];
        let peer = self.s.peer[op as usize];
        if self.has_memory(peer) {
            let bytes = self.msg_bytes[msg as usize];
            self.mem
                .as_mut()
                .expect("memory")
                .access(peer, op, bytes, true, t);
        } else if self.mem.is_some() {
            self.written(op, t); // a unit takes it as it comes
        } else {
            self.complete(op, t);
        }
    }

    /// Stacks due by `t` run up to it; what finished moves its op on.
    fn run_stacks(&mut self, t: Ps) -> Result<()> {
        let Some(mut mem) = self.mem.take() else {
            return Ok(());
        };
        let c = self.fab.params.clock.cycle_at_or_after(t);
        let mut done = std::mem::take(&mut self.mem_done);
        let res = mem.advance(c, t, |a| done.push(a));
        self.mem = Some(mem);
        res?;
        for a in done.drain(..) {
            self.access_done(a, t)?;
        }
        self.mem_done = done;
        Ok(())
    }

    /// The next time a stack has something to do, while any holds accesses.
    fn next_stack_event(&self) -> Option<Ps> {
        let mem = self.mem.as_ref().filter(|m| m.pending() > 0)?;
        mem.next_event().map(|c| self.fab.params.clock.start_ps(c))
    }

    /// Message `msg`'s flow starts at `t` (it heads its queue).
    fn start_flow(&mut self, msg: u32, t: Ps) -> Result<()> {
        let m = msg as usize;
        let dst = self.s.peer[self.msg_op[m] as usize];
        let port = self.nics.port_of(msg);
        let tail = self.fab.route(msg, port, dst, 0, &mut self.path)?;
        let wire = self.msg_wire[m];
        for &d in &self.path {
            self.payload[d as usize] += wire;
        }
        self.send_ps[m] = t;
        self.tail_ps[m] = tail;
        let flits = self.fab.params.message_flits(wire);
        let window = self.fab.vc_window[self.path[0] as usize];
        self.sh.add(t, msg, flits, &self.path, window);
        Ok(())
    }

    /// Everything due at `t`: transfers ending, messages arriving, timers,
    /// and what they make ready (which may be due at `t` too).
    fn settle(&mut self, t: Ps, ended: &mut Vec<u32>) -> Result<()> {
        self.run_stacks(t)?;
        self.sh.finish_due(t, ended);
        for msg in ended.drain(..) {
            let at = t + self.tail_ps[msg as usize];
            self.timers.push(Reverse((at, ARRIVE, msg)));
            if let Some(next) = self.nics.sent(msg) {
                self.start_flow(next, t)?;
            }
        }
        loop {
            let mut starting = std::mem::take(&mut self.ready);
            for op in starting.drain(..) {
                self.ready_at(op, t)?;
            }
            self.ready = starting;
            let Some(&Reverse((at, kind, id))) = self.timers.peek() else {
                break;
            };
            if at > t {
                break;
            }
            self.timers.pop();
            match kind {
                BEGIN => self.begin(id, t)?,
                DONE => self.part_done(id, t),
                _ => self.arrived(id, t),
            }
        }
        Ok(())
    }
}

/// Runs schedule `s` on `spec` at flow fidelity (same checks as the cycle
/// executor's `run_collective`; with `memory`, each rank's HBM stack is the
/// cycle executor's, cycle-level, and the pieces between it and the fabric
/// are flows). Start and finish times are
/// reported in fabric cycles, rounded up.
pub fn run_collective(
    spec: &FabricSpec,
    s: ScheduleColumns,
    opts: &RunOptions,
    memory: Option<&CollectiveMemory>,
) -> Result<CollectiveResult> {
    check_schedule(spec, &s, opts)?;
    let mut fab = FlowFabric::new(spec)?;
    let units_from = spec.topology.memory_endpoints() as u32;
    let mem = match memory {
        Some(m) => Some(RankMemory::new(m, units_from as usize, fab.params.clock)?),
        None => None,
    };
    let changes = capacity_changes(opts, &mut fab, spec)?;
    let limit = limit_ps(spec, opts)?;
    let started = Instant::now();
    let n = s.op.len();
    let (dag, ready) = Dag::new(&s);
    let mut ex = FlowExecutor {
        mem,
        mem_left: vec![0; n],
        writing: vec![false; n],
        parts_left: vec![1; n],
        mem_done: Vec::new(),
        sh: Sharing::new(fab.capacity.clone()),
        nics: Nics::new(fab.num_ports()),
        payload: vec![0; fab.num_dirs()],
        fab,
        s,
        dag,
        ready,
        timers: BinaryHeap::new(),
        start: vec![NEVER_PS; n],
        finish: vec![NEVER_PS; n],
        msg_op: Vec::new(),
        msg_bytes: Vec::new(),
        msg_wire: Vec::new(),
        send_ps: Vec::new(),
        deliver_ps: Vec::new(),
        tail_ps: Vec::new(),
        path: Vec::new(),
        units_from,
    };
    let mut ended = Vec::new();
    let mut polling = Polling::new();
    start_link_samples(&mut ex.sh, &ex.fab, opts);
    let (mut now, mut events) = (0 as Ps, 0u64);
    let mut next_change = 0usize;
    ex.settle(0, &mut ended)?;
    next_change = apply_changes(&changes, next_change, 0, &mut ex.sh);
    ex.sh.reshare(0);
    let complete = loop {
        if ex.dag.left == 0 {
            break true;
        }
        let timer = ex.timers.peek().map(|r| r.0 .0);
        let change = changes.get(next_change).map(|c| c.at_ps);
        let Some(t) = [timer, ex.sh.next_finish(), change, ex.next_stack_event()]
            .into_iter()
            .flatten()
            .min()
        else {
            let waiting = (0..n)
                .find(|&i| ex.finish[i] == NEVER_PS)
                .map_or(String::new(), |i| {
                    format!(
                        "; schedule op {i} (kind {}) on rank {} waits for {} operation(s)",
                        ex.s.op[i],
                        ex.s.rank[i],
                        ex.dag.waiting(i)
                    )
                });
            let what = format!(
                "collective schedule stalled: {} of {n} ops are not done and nothing can move{waiting}",
                ex.dag.left
            );
            let partial = report(
                &ex.fab,
                &ex.sh,
                ex.send_ps.clone(),
                ex.deliver_ps.clone(),
                ex.payload.clone(),
                false,
                now,
                events,
                0.0,
                true,
            );
            return Err(stalled(&ex.fab, &ex.sh, now, what, partial));
        };
        if t >= limit {
            break false;
        }
        now = t;
        events += 1;
        ex.sh.sample_until(t);
        ex.settle(t, &mut ended)?;
        next_change = apply_changes(&changes, next_change, t, &mut ex.sh);
        ex.sh.reshare(t);
        polling.turn(&ex.fab, t, (n - ex.dag.left) as u64, n as u64)?;
    };
    let end = if complete {
        ex.finish.iter().copied().max().unwrap_or(0)
    } else {
        // (nothing at or past the limit happened: the loop stops before it)
        limit.saturating_sub(1)
    };
    let wall = started.elapsed().as_secs_f64();
    let keep = opts.keep_messages || !complete;
    let run = report(
        &ex.fab,
        &ex.sh,
        ex.send_ps,
        ex.deliver_ps,
        ex.payload,
        complete,
        end,
        events,
        wall,
        keep,
    );
    if !keep {
        ex.msg_op = Vec::new();
        ex.msg_bytes = Vec::new();
    }
    let clock = ex.fab.params.clock;
    let to_cycle = |t: Ps| -> Cycle {
        if t == NEVER_PS {
            Cycle::MAX
        } else {
            clock.cycle_at_or_after(t)
        }
    };
    Ok(CollectiveResult {
        run,
        start: ex.start.iter().map(|&t| to_cycle(t)).collect(),
        finish: ex.finish.iter().map(|&t| to_cycle(t)).collect(),
        msg_op: ex.msg_op,
        msg_bytes: ex.msg_bytes,
        memory: ex.mem.as_mut().map_or(Vec::new(), |m| {
            m.devices
                .iter_mut()
                .map(|d| std::mem::take(&mut d.mem.sink.counters))
                .collect()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::spec::{LinkSpec, TopologySpec};

    #[test]
    fn a_stuck_schedule_is_a_deadlock_naming_the_op() {
        let spec = FabricSpec::new(
            TopologySpec::PointToPoint,
            LinkSpec::with_defaults(1, 8.0, 8, 8, 4),
        );
        // op 0 waits for op 1 and op 1 for op 0
        let s = ScheduleColumns {
            op: vec![crate::collective::COPY; 2],
            rank: vec![0, 0],
            peer: vec![0, 0],
            bytes: vec![8, 8],
            matched: vec![-1, -1],
            dep_ptr: vec![0, 1, 2],
            deps: vec![1, 0],
            ..ScheduleColumns::default()
        };
        match run_collective(&spec, s, &RunOptions::default(), None) {
            Err(Error::Deadlock { message, .. }) => {
                assert!(message.contains("schedule op 0"), "{message}")
            }
            other => panic!("expected a deadlock, got {:?}", other.map(|r| r.finish)),
        }
    }
}
