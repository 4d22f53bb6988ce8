//! One pseudo-channel's controller: read and write queues, write drain,
//! refresh, page policy, and the scan that picks at most one row command
//! (ACT, PRE, REF) and one column command (RD, WR) per cycle.

use super::scheduler::{BankView, Policy};
use super::sink::Sink;
use super::timing::{Command, PcTiming, NO_ROW};
use crate::spec::hbm::HbmTiming;
use crate::spec::memory::{ControllerSpec, PagePolicy, RefreshMode};
use std::collections::VecDeque;

/// Cycle meaning "never".
pub const NEVER: u64 = u64::MAX;

/// One queued access (`access_bytes` of one request).
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub req: u32,
    pub bank: u16,
    pub write: bool,
    /// Commands issued on its behalf: bit 0 ACT, bit 1 PRE (row hit/miss/conflict).
    pub caused: u8,
    pub row: u32,
    pub column: u32,
}

/// Per-bank scan flags: the bank's oldest request was seen (FCFS); the bank
/// has queued requests (refresh choice).
const SEEN: u8 = 1;
const BUSY: u8 = 2;

/// The fixed parameters every controller shares.
#[derive(Clone, Debug)]
pub struct Params {
    pub t: HbmTiming,
    pub policy: Policy,
    pub page: PagePolicy,
    pub page_timeout: u64,
    pub refresh: RefreshMode,
    pub read_queue: usize,
    pub write_queue: usize,
    pub write_high: usize,
    pub write_low: usize,
}

impl Params {
    pub fn new(t: &HbmTiming, c: &ControllerSpec) -> Self {
        Self {
            t: t.clone(),
            policy: Policy::new(c.scheduler, c.starvation_cap),
            page: c.page_policy,
            page_timeout: c.page_timeout_cycles as u64,
            refresh: c.refresh,
            read_queue: c.read_queue as usize,
            write_queue: c.write_queue as usize,
            write_high: c.write_high as usize,
            write_low: c.write_low as usize,
        }
    }
}

/// The command buses of a channel, shared by its pseudo-channels: one row
/// and one column command per cycle.
#[derive(Clone, Copy, Debug)]
pub struct Buses {
    pub row_free: bool,
    pub col_free: bool,
}

#[derive(Clone, Debug)]
pub struct Controller {
    /// Global pseudo-channel index (channel x pseudo_channels + pc).
    pub index: u32,
    pub timing: PcTiming,
    reads: Vec<Entry>,
    writes: Vec<Entry>,
    /// Accepted accesses waiting for room in their queue, in order.
    pending: VecDeque<Entry>,
    draining: bool,
    refresh_due: u64,
    /// Per-bank refresh: the bank being refreshed, the banks already
    /// refreshed in this round, and where the next search starts.
    refresh_target: Option<usize>,
    refreshed: Vec<bool>,
    refreshed_count: usize,
    refresh_ptr: usize,
    /// The next cycle at which this controller may be able to issue; it is
    /// not ticked before (new arrivals reset it).
    pub wake: u64,
    flags: Vec<u8>,
    /// Per queue (0 reads, 1 writes) and bank: queued accesses that hit the
    /// open row, and that want another row. Kept up to date on every enqueue,
    /// column command, ACT and PRE, so a scan needs no extra pass.
    hits: [Vec<u16>; 2],
    conflicts: [Vec<u16>; 2],
}

/// The command a scan chose, and for whom.
#[derive(Clone, Copy, Debug)]
struct Pick {
    cmd: Command,
    bank: usize,
    row: u32,
    /// Index in the active queue (`usize::MAX` for refresh and page closes).
    entry: usize,
}

impl Controller {
    pub fn new(index: u32, num_pcs: u32, banks: usize, banks_per_group: usize, p: &Params) -> Self {
        // Stagger refresh over the stack's pseudo-channels, as controllers do
        // to spread the current draw.
        let interval = match p.refresh {
            RefreshMode::AllBank => p.t.refi as u64,
            RefreshMode::PerBank => p.t.refi_sb.max(1) as u64,
            RefreshMode::Off => 0,
        };
        let refresh_due = if interval == 0 {
            NEVER
        } else {
            (index as u64 + 1) * interval / num_pcs as u64
        };
        Self {
            index,
            timing: PcTiming::new(banks, banks_per_group),
            reads: Vec::with_capacity(p.read_queue),
            writes: Vec::with_capacity(p.write_queue),
            pending: VecDeque::new(),
            draining: false,
            refresh_due: refresh_due.max(1),
            refresh_target: None,
            refreshed: vec![false; banks],
            refreshed_count: 0,
            refresh_ptr: 0,
            wake: 0,
            flags: vec![0; banks],
            hits: [vec![0; banks], vec![0; banks]],
            conflicts: [vec![0; banks], vec![0; banks]],
        }
    }

    /// Queued and pending accesses.
    pub fn queued(&self) -> (usize, usize, usize) {
        (self.reads.len(), self.writes.len(), self.pending.len())
    }

    /// Accepts an access at cycle `c`: into its queue if there is room, else
    /// behind the others waiting. A read of an access a queued write will
    /// write is answered from the write queue (returns false: not queued).
    pub fn accept(&mut self, e: Entry, c: u64, p: &Params) -> bool {
        // Accesses wait in order: a read behind a waiting write is checked
        // against the write queue when it moves in (`refill`).
        if !self.pending.is_empty() || !self.has_room(e.write, p) {
            self.pending.push_back(e);
        } else if !e.write && self.covered_by_write(&e) {
            return false;
        } else {
            self.enqueue(e);
        }
        self.wake = self.wake.min(c);
        true
    }

    fn covered_by_write(&self, e: &Entry) -> bool {
        self.writes
            .iter()
            .any(|w| w.bank == e.bank && w.row == e.row && w.column == e.column)
    }

    fn has_room(&self, write: bool, p: &Params) -> bool {
        if write {
            self.writes.len() < p.write_queue
        } else {
            self.reads.len() < p.read_queue
        }
    }

    fn enqueue(&mut self, e: Entry) {
        let (k, b) = (e.write as usize, e.bank as usize);
        let open = self.timing.banks[b].open_row;
        if open == e.row {
            self.hits[k][b] += 1;
        } else if open != NO_ROW {
            self.conflicts[k][b] += 1;
        }
        if e.write {
            self.writes.push(e);
        } else {
            self.reads.push(e);
        }
    }

    /// Moves waiting accesses into their queues while the head fits (reads
    /// that a now-queued write covers are answered by the caller).
    fn refill(&mut self, p: &Params, sink: &mut Sink, c: u64) {
        while let Some(&e) = self.pending.front() {
            if !self.has_room(e.write, p) {
                break;
            }
            self.pending.pop_front();
            if !e.write && self.covered_by_write(&e) {
                sink.forward(e.req, c);
            } else {
                self.enqueue(e);
            }
        }
    }

    /// The next refresh deadline (`NEVER` without refresh).
    pub fn refresh_due(&self) -> u64 {
        self.refresh_due
    }

    /// One cycle: issues at most one row and one column command on free
    /// buses, updates `wake`, and reports whether anything issued.
    pub fn tick(&mut self, c: u64, p: &Params, buses: &mut Buses, sink: &mut Sink) -> bool {
        let t = &p.t;
        let mut wake = NEVER;
        let (mut row, mut col): (Option<Pick>, Option<Pick>) = (None, None);
        // Refresh first: once due, it blocks the banks it needs.
        let mut refresh_blocks: Option<usize> = None; // bank, or usize::MAX for all
        if c >= self.refresh_due {
            match p.refresh {
                RefreshMode::AllBank => {
                    refresh_blocks = Some(usize::MAX);
                    row = self.refresh_all(c, t, &mut wake);
                }
                RefreshMode::PerBank => {
                    let b = match self.refresh_target {
                        Some(b) => b,
                        None => {
                            let b = self.choose_refresh_bank();
                            self.refresh_target = Some(b);
                            b
                        }
                    };
                    refresh_blocks = Some(b);
                    row = self.refresh_one(b, c, t, &mut wake);
                }
                RefreshMode::Off => unreachable!("refresh_due is NEVER without refresh"),
            }
        } else {
            wake = self.refresh_due;
        }
        let refresh_blocks = refresh_blocks;
        // Write drain hysteresis.
        if self.draining {
            if self.writes.is_empty()
                || (self.writes.len() <= p.write_low && !self.reads.is_empty())
            {
                self.draining = false;
            }
        } else if self.writes.len() >= p.write_high
            || (self.reads.is_empty() && !self.writes.is_empty())
        {
            self.draining = true;
        }
        if refresh_blocks != Some(usize::MAX) {
            self.scan(c, p, refresh_blocks, &mut row, &mut col, &mut wake);
            if row.is_none() && p.page != PagePolicy::Open {
                row = self.page_close(c, p, refresh_blocks, &mut wake);
            }
        }
        // A column command and a PRE to the same bank cannot share a cycle
        // (the PRE's tRTP / tWR start from the column command).
        if let (Some(r), Some(k)) = (row, col) {
            if r.bank == k.bank {
                row = None;
                wake = wake.min(c + 1);
            }
        }
        if row.is_some() && !buses.row_free {
            row = None;
            wake = wake.min(c + 1);
        }
        if col.is_some() && !buses.col_free {
            col = None;
            wake = wake.min(c + 1);
        }
        let issued = row.is_some() || col.is_some();
        if let Some(r) = row {
            buses.row_free = false;
            self.issue_row(r, c, p, sink);
        }
        if let Some(k) = col {
            buses.col_free = false;
            self.issue_col(k, c, p, sink);
        }
        self.wake = if issued { c + 1 } else { wake };
        issued
    }

    /// All-bank refresh: close every open bank, then REFab.
    fn refresh_all(&mut self, c: u64, t: &HbmTiming, wake: &mut u64) -> Option<Pick> {
        if self.timing.open_banks > 0 {
            let mut best = None;
            for (b, bank) in self.timing.banks.iter().enumerate() {
                if bank.open_row != NO_ROW {
                    let at = self.timing.earliest(Command::Pre, b, t);
                    if at <= c {
                        best = Some(b);
                        break;
                    }
                    *wake = (*wake).min(at);
                }
            }
            return best.map(|bank| Pick {
                cmd: Command::Pre,
                bank,
                row: 0,
                entry: usize::MAX,
            });
        }
        let at = self.timing.earliest(Command::RefAb, 0, t);
        if at <= c {
            return Some(Pick {
                cmd: Command::RefAb,
                bank: 0,
                row: 0,
                entry: usize::MAX,
            });
        }
        *wake = (*wake).min(at);
        None
    }

    /// Which bank a due per-bank refresh takes: among the banks not yet
    /// refreshed in this round (each bank once per round of `banks` REFsb,
    /// about one tREFI), the idle bank (no queued request) used most
    /// recently, else the next in turn. Refreshing idle banks keeps refresh
    /// out of the way of the banks in use (the idea of DARP, Chang et al.,
    /// HPCA 2014); the most recently used idle bank is the one a stream has
    /// just left, so it is the last a stream will come back to.
    fn choose_refresh_bank(&mut self) -> usize {
        let n = self.timing.banks.len();
        self.flags.iter_mut().for_each(|f| *f = 0);
        for e in self.reads.iter().chain(&self.writes) {
            self.flags[e.bank as usize] = BUSY;
        }
        let mut best: Option<(u64, usize)> = None;
        let mut first = None;
        for k in 0..n {
            let b = (self.refresh_ptr + k) % n;
            if self.refreshed[b] {
                continue;
            }
            first.get_or_insert(b);
            let used = self.timing.banks[b].last_use;
            if self.flags[b] & BUSY == 0 && best.is_none_or(|(u, _)| used > u) {
                best = Some((used, b));
            }
        }
        best.map(|(_, b)| b)
            .or(first)
            .expect("a round always has a bank left to refresh")
    }

    /// Per-bank refresh of bank `b`: close it, then REFsb.
    fn refresh_one(&mut self, b: usize, c: u64, t: &HbmTiming, wake: &mut u64) -> Option<Pick> {
        let cmd = if self.timing.banks[b].open_row != NO_ROW {
            Command::Pre
        } else {
            Command::RefSb
        };
        let at = self.timing.earliest(cmd, b, t);
        if at <= c {
            return Some(Pick {
                cmd,
                bank: b,
                row: 0,
                entry: usize::MAX,
            });
        }
        *wake = (*wake).min(at);
        None
    }

    /// Scans the active queue oldest first for the first ready column and row commands.
    fn scan(
        &mut self,
        c: u64,
        p: &Params,
        blocked: Option<usize>,
        row: &mut Option<Pick>,
        col: &mut Option<Pick>,
        wake: &mut u64,
    ) {
        let t = &p.t;
        let fcfs = p.policy.in_order();
        if fcfs {
            self.flags.iter_mut().for_each(|f| *f = 0);
        }
        let flags = &mut self.flags;
        let banks = &self.timing.banks;
        let k = self.draining as usize;
        let queue = if self.draining {
            &self.writes
        } else {
            &self.reads
        };
        let (hits, conflicts) = (&self.hits[k], &self.conflicts[k]);
        // Pseudo-channel-wide lower bounds: when one is in the future no
        // command of that kind can issue, whatever the bank.
        let act_floor = self.timing.act_floor();
        let col_floor = self.timing.col_floor(self.draining, t);
        let blocked = blocked.unwrap_or(usize::MAX);
        for (i, e) in queue.iter().enumerate() {
            let b = e.bank as usize;
            let older_seen = fcfs && flags[b] & SEEN != 0;
            if fcfs {
                flags[b] |= SEEN;
            }
            // Cheapest tests first: the bus slot already taken, or the whole
            // pseudo-channel not ready for this kind of command.
            let bank = &banks[b];
            let (cmd, floor) = if bank.open_row == e.row {
                if col.is_some() {
                    continue;
                }
                (if e.write { Command::Wr } else { Command::Rd }, col_floor)
            } else if row.is_some() {
                continue;
            } else if bank.open_row == NO_ROW {
                (Command::Act, act_floor)
            } else {
                (Command::Pre, 0)
            };
            if floor > c {
                *wake = (*wake).min(floor);
                continue;
            }
            if b == blocked {
                continue;
            }
            let view = BankView {
                older_seen,
                hit_pending: hits[b] > 0,
                conflict_pending: conflicts[b] > 0,
                hits_served: bank.hits,
            };
            let (allowed, slot) = match cmd {
                Command::Rd | Command::Wr => (p.policy.may_hit(view), &mut *col),
                Command::Act => (p.policy.may_open(view), &mut *row),
                _ => (p.policy.may_close(view), &mut *row),
            };
            if !allowed {
                continue;
            }
            let at = self.timing.earliest(cmd, b, t);
            if at <= c {
                *slot = Some(Pick {
                    cmd,
                    bank: b,
                    row: e.row,
                    entry: i,
                });
                if row.is_some() && col.is_some() {
                    break;
                }
            } else {
                *wake = (*wake).min(at);
            }
        }
    }

    /// Closed and timeout page policies: close an open row no queued request hits.
    fn page_close(
        &mut self,
        c: u64,
        p: &Params,
        blocked: Option<usize>,
        wake: &mut u64,
    ) -> Option<Pick> {
        for (b, bank) in self.timing.banks.iter().enumerate() {
            if bank.open_row == NO_ROW
                || self.hits[0][b] + self.hits[1][b] > 0
                || blocked == Some(b)
            {
                continue;
            }
            let mut at = self.timing.earliest(Command::Pre, b, &p.t);
            if p.page == PagePolicy::OpenTimeout {
                at = at.max(bank.last_use + p.page_timeout);
            }
            if at <= c {
                return Some(Pick {
                    cmd: Command::Pre,
                    bank: b,
                    row: 0,
                    entry: usize::MAX,
                });
            }
            *wake = (*wake).min(at);
        }
        None
    }

    fn queue_mut(&mut self) -> &mut Vec<Entry> {
        if self.draining {
            &mut self.writes
        } else {
            &mut self.reads
        }
    }

    fn issue_row(&mut self, r: Pick, c: u64, p: &Params, sink: &mut Sink) {
        let t = &p.t;
        match r.cmd {
            Command::Act => self.queue_mut()[r.entry].caused |= 1,
            Command::Pre if r.entry != usize::MAX => self.queue_mut()[r.entry].caused |= 2,
            Command::RefAb => {
                self.refresh_due += t.refi as u64;
            }
            Command::RefSb => {
                self.refresh_due += t.refi_sb as u64;
                let n = self.timing.banks.len();
                self.refreshed[r.bank] = true;
                self.refreshed_count += 1;
                if self.refreshed_count == n {
                    self.refreshed.iter_mut().for_each(|b| *b = false);
                    self.refreshed_count = 0;
                }
                self.refresh_ptr = (r.bank + 1) % n;
                self.refresh_target = None;
            }
            _ => {}
        }
        self.timing.issue(r.cmd, r.bank, r.row, c, t);
        match r.cmd {
            Command::Act => self.count_row(r.bank, r.row),
            Command::Pre => {
                for k in 0..2 {
                    self.hits[k][r.bank] = 0;
                    self.conflicts[k][r.bank] = 0;
                }
            }
            _ => {}
        }
        sink.command(c, self.index, r.cmd, r.bank, r.row);
    }

    /// Row `row` just opened in `bank`: count the queued hits and conflicts.
    fn count_row(&mut self, bank: usize, row: u32) {
        for (k, q) in [&self.reads, &self.writes].into_iter().enumerate() {
            let (mut h, mut x) = (0, 0);
            for e in q.iter().filter(|e| e.bank as usize == bank) {
                if e.row == row {
                    h += 1;
                } else {
                    x += 1;
                }
            }
            self.hits[k][bank] = h;
            self.conflicts[k][bank] = x;
        }
    }

    fn issue_col(&mut self, k: Pick, c: u64, p: &Params, sink: &mut Sink) {
        let t = &p.t;
        let e = self.queue_mut().remove(k.entry);
        self.hits[e.write as usize][k.bank] -= 1;
        self.timing.issue(k.cmd, k.bank, k.row, c, t);
        sink.command(c, self.index, k.cmd, k.bank, k.row);
        let done = if e.write {
            c + (t.cwl + t.bl) as u64
        } else {
            c + (t.cl + t.bl) as u64
        };
        sink.access_done(&e, self.index, done);
        self.refill(p, sink, c);
    }

    /// Checks the incremental hit/conflict counts against a recount (for
    /// `check_invariants`); returns what disagrees.
    pub fn count_mismatch(&self) -> Option<String> {
        for (k, q) in [&self.reads, &self.writes].into_iter().enumerate() {
            for (b, bank) in self.timing.banks.iter().enumerate() {
                let mine = q.iter().filter(|e| e.bank as usize == b);
                let hits = mine.clone().filter(|e| e.row == bank.open_row).count();
                let conflicts = if bank.open_row == NO_ROW {
                    0
                } else {
                    mine.count() - hits
                };
                if (hits, conflicts) != (self.hits[k][b] as usize, self.conflicts[k][b] as usize) {
                    return Some(format!(
                        "bank {b} queue {k}: counted {hits} hits / {conflicts} conflicts, kept {} / {}",
                        self.hits[k][b], self.conflicts[k][b]
                    ));
                }
            }
        }
        None
    }

    /// Why this controller holds work (for a deadlock report).
    pub fn describe(&self) -> String {
        format!(
            "{} reads and {} writes queued, {} waiting; next command no earlier than cycle {}",
            self.reads.len(),
            self.writes.len(),
            self.pending.len(),
            self.wake
        )
    }
}
