//! What the controllers report as they issue: completions (in time order),
//! counters, and the command trace when it is recorded.

use super::controller::Entry;
use super::timing::Command;
use std::collections::VecDeque;

/// One recorded command, located in the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    pub cycle: u64,
    /// Global pseudo-channel index (channel x pseudo_channels + pc).
    pub pc: u32,
    /// Bank index within the pseudo-channel ((sid x bank_groups + bg) x banks_per_group + bank).
    pub bank: u32,
    pub command: Command,
    pub row: u32,
}

crate::counters! {
    /// A stack's totals, each exported under its name (Python's
    /// `MemoryResult.counters`, and the memory results that hold stacks).
    pub struct StackTotals {
        /// Accesses served from an open row (no ACT issued for them).
        row_hits,
        /// Accesses that needed an ACT on a closed bank.
        row_misses,
        /// Accesses that needed a PRE of another row, then an ACT.
        row_conflicts,
        /// RD commands (accesses of the stack's access size).
        reads,
        /// WR commands.
        writes,
        /// Read accesses answered from the write queue (a queued write to the same address).
        forwarded_reads,
        /// All-bank refreshes (REFab).
        refab,
        /// Per-bank refreshes (REFsb).
        refsb,
        /// PRE commands.
        precharges,
    }
}

#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub totals: StackTotals,
    /// Per bank of the stack (global pc x banks + bank).
    pub bank_acts: Vec<u64>,
    pub bank_reads: Vec<u64>,
    pub bank_writes: Vec<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct Sink {
    banks_per_pc: usize,
    pub counters: Counters,
    /// Access completions (cycle, request), each queue non-decreasing in
    /// cycle: reads finish CL + BL after issue, writes CWL + BL, forwarded
    /// reads one cycle after they arrive.
    pub reads_done: VecDeque<(u64, u32)>,
    pub writes_done: VecDeque<(u64, u32)>,
    pub forwards_done: VecDeque<(u64, u32)>,
    pub record: bool,
    pub trace: Vec<CommandRecord>,
}

impl Sink {
    pub fn new(total_banks: usize, banks_per_pc: usize, record: bool) -> Self {
        Self {
            banks_per_pc,
            counters: Counters {
                bank_acts: vec![0; total_banks],
                bank_reads: vec![0; total_banks],
                bank_writes: vec![0; total_banks],
                ..Counters::default()
            },
            record,
            ..Self::default()
        }
    }

    pub fn command(&mut self, cycle: u64, pc: u32, command: Command, bank: usize, row: u32) {
        let k = &mut self.counters;
        let global = pc as usize * self.banks_per_pc + bank;
        match command {
            Command::Act => k.bank_acts[global] += 1,
            Command::Pre => k.totals.precharges += 1,
            Command::RefAb => k.totals.refab += 1,
            Command::RefSb => k.totals.refsb += 1,
            Command::Rd | Command::Wr => {}
        }
        if self.record {
            self.trace.push(CommandRecord {
                cycle,
                pc,
                bank: bank as u32,
                command,
                row,
            });
        }
    }

    pub fn access_done(&mut self, e: &Entry, pc: u32, done: u64) {
        let k = &mut self.counters;
        let global = pc as usize * self.banks_per_pc + e.bank as usize;
        if e.caused & 2 != 0 {
            k.totals.row_conflicts += 1;
        } else if e.caused & 1 != 0 {
            k.totals.row_misses += 1;
        } else {
            k.totals.row_hits += 1;
        }
        if e.write {
            k.totals.writes += 1;
            k.bank_writes[global] += 1;
            self.writes_done.push_back((done, e.req));
        } else {
            k.totals.reads += 1;
            k.bank_reads[global] += 1;
            self.reads_done.push_back((done, e.req));
        }
    }

    pub fn forward(&mut self, req: u32, c: u64) {
        self.counters.totals.forwarded_reads += 1;
        self.forwards_done.push_back((c + 1, req));
    }

    /// The earliest pending completion.
    pub fn next_done(&self) -> Option<u64> {
        [&self.reads_done, &self.writes_done, &self.forwards_done]
            .iter()
            .filter_map(|q| q.front().map(|&(c, _)| c))
            .min()
    }

    /// Pops every completion due by cycle `c`, calling `f(request, cycle)`.
    pub fn drain_done(&mut self, c: u64, mut f: impl FnMut(u32, u64)) {
        for q in [
            &mut self.reads_done,
            &mut self.writes_done,
            &mut self.forwards_done,
        ] {
            while let Some(&(at, req)) = q.front() {
                if at > c {
                    break;
                }
                q.pop_front();
                f(req, at);
            }
        }
    }
}
