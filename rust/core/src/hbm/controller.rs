//! One pseudo-channel's controller: read and write queues, write drain,
//! refresh, page policy, and the scan that picks at most one row command
//! (ACT, PRE, REF) and one column command (RD, WR) per cycle.

use super::queues::BankQueues;
use super::refresh::{Refresh, ALL_BANKS};
use super::scheduler::{BankView, Policy, Scheduler};
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
    /// Arrival order in the controller (set by the queues).
    pub seq: u64,
}

/// No queue entry (refresh and page-policy commands).
const NO_ENTRY: u32 = u32::MAX;

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
    q: BankQueues,
    /// Accepted accesses waiting for room in their queue, in order.
    pending: VecDeque<Entry>,
    draining: bool,
    refresh: Refresh,
    /// The next cycle at which this controller may be able to issue; it is
    /// not ticked before (new arrivals reset it).
    pub wake: u64,
}

/// The command a scan chose, and for whom.
#[derive(Clone, Copy, Debug)]
struct Pick {
    cmd: Command,
    bank: usize,
    row: u32,
    /// Queue slot (`NO_ENTRY` for refresh and page closes).
    entry: u32,
}

impl Pick {
    /// A placeholder offered only with a future cycle (never picked).
    const NONE: Pick = Pick {
        cmd: Command::Act,
        bank: 0,
        row: 0,
        entry: NO_ENTRY,
    };
}

/// Kinds of ready candidates that lost to an older one in a scan: they may
/// be able to go next cycle.
#[derive(Clone, Copy, Debug, Default)]
struct Lost {
    act: bool,
    pre: bool,
    col: bool,
}

impl Lost {
    fn note(&mut self, cmd: Command) {
        match cmd {
            Command::Act => self.act = true,
            Command::Rd | Command::Wr => self.col = true,
            _ => self.pre = true,
        }
    }
}

/// What a scan found: the row and column commands to issue (a refresh
/// command chosen before the scan stays), the first cycle a candidate that
/// is not ready can be, and what lost to older candidates.
struct Found {
    row: Option<Pick>,
    col: Option<Pick>,
    wake: u64,
    lost: Lost,
}

/// The best ready candidate so far for one bus: (age, pick).
type Best = Option<(u64, Pick)>;

impl Controller {
    pub fn new(index: u32, num_pcs: u32, banks: usize, banks_per_group: usize, p: &Params) -> Self {
        Self {
            index,
            timing: PcTiming::new(banks, banks_per_group),
            q: BankQueues::new(banks, p.read_queue, p.write_queue),
            pending: VecDeque::new(),
            draining: false,
            refresh: Refresh::new(p.refresh, index, num_pcs, banks, &p.t),
            wake: 0,
        }
    }

    /// Queued and pending accesses.
    pub fn queued(&self) -> (usize, usize, usize) {
        (self.q.len(0), self.q.len(1), self.pending.len())
    }

    /// Accepts an access at cycle `c`: into its queue if there is room, else
    /// behind the others waiting. A read of an access a queued write will
    /// write is answered from the write queue (returns false: not queued).
    pub fn accept(&mut self, e: Entry, c: u64) -> bool {
        // Accesses wait in order: a read behind a waiting write is checked
        // against the write queue when it moves in (`refill`).
        if !self.pending.is_empty() || !self.q.has_room(e.write as usize) {
            self.pending.push_back(e);
        } else if !e.write && self.q.has_write(&e) {
            return false;
        } else {
            self.enqueue(e);
        }
        self.wake = self.wake.min(c);
        true
    }

    fn enqueue(&mut self, e: Entry) {
        let open = self.timing.banks[e.bank as usize].open_row;
        self.q.push(e, open);
    }

    /// Moves waiting accesses into their queues while the head fits (reads
    /// that a now-queued write covers are answered by the caller).
    /// Returns a lower bound on the first cycle a command for one of the
    /// moved accesses can issue (`NEVER` if none moved).
    fn refill(&mut self, sink: &mut Sink, c: u64, t: &HbmTiming) -> u64 {
        let mut bound = NEVER;
        while let Some(&e) = self.pending.front() {
            if !self.q.has_room(e.write as usize) {
                break;
            }
            self.pending.pop_front();
            if !e.write && self.q.has_write(&e) {
                sink.forward(e.req, c);
            } else {
                let b = e.bank as usize;
                let open = self.timing.banks[b].open_row;
                let cmd = if open == NO_ROW {
                    Command::Act
                } else if open != e.row {
                    Command::Pre
                } else if e.write {
                    Command::Wr
                } else {
                    Command::Rd
                };
                bound = bound.min(self.timing.earliest(cmd, b, t));
                self.enqueue(e);
            }
        }
        bound
    }

    /// The next refresh deadline (`NEVER` without refresh).
    pub fn refresh_due(&self) -> u64 {
        self.refresh.due()
    }

    /// One cycle: issues at most one row and one column command on free
    /// buses, updates `wake`, and reports whether anything issued.
    pub fn tick(&mut self, c: u64, p: &Params, buses: &mut Buses, sink: &mut Sink) -> bool {
        let t = &p.t;
        let mut wake = NEVER;
        let mut lost = Lost::default();
        let (mut row, mut col): (Option<Pick>, Option<Pick>) = (None, None);
        // The next-cycle bound below is exact only in the common case; a
        // refresh in progress, FCFS or a closing page policy look again next cycle.
        let exact = c < self.refresh.due() && p.page == PagePolicy::Open && !p.policy.in_order();
        // Refresh first: once due, it blocks the banks it needs.
        let mut refresh_blocks: Option<usize> = None;
        if c >= self.refresh.due() {
            let busy = self.q.nonempty(0) | self.q.nonempty(1);
            let due = self.refresh.step(c, &self.timing, busy, t, &mut wake);
            refresh_blocks = Some(due.blocks);
            row = due.command.map(|(cmd, bank)| Pick {
                cmd,
                bank,
                row: 0,
                entry: NO_ENTRY,
            });
        } else {
            wake = self.refresh.due();
        }
        // Write drain hysteresis.
        let (reads, writes) = (self.q.len(0), self.q.len(1));
        if self.draining {
            if writes == 0 || (writes <= p.write_low && reads > 0) {
                self.draining = false;
            }
        } else if writes >= p.write_high || (reads == 0 && writes > 0) {
            self.draining = true;
        }
        if refresh_blocks != Some(ALL_BANKS) {
            let mut found = Found {
                row,
                col: None,
                wake,
                lost: Lost::default(),
            };
            self.scan(c, p, refresh_blocks, &mut found);
            (row, col, wake, lost) = (found.row, found.col, found.wake, found.lost);
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
        let mut refill_bound = NEVER;
        if let Some(k) = col {
            buses.col_free = false;
            refill_bound = self.issue_col(k, c, p, sink);
        }
        if issued {
            wake = if exact {
                wake.min(self.next_after(c, p, row, col, lost, refill_bound))
            } else {
                c + 1
            };
        }
        self.wake = wake;
        issued
    }

    /// After issuing `row` / `col` at `c`: the first cycle at which something
    /// the scan did not already bound may issue. Ready candidates that lost
    /// wait for the pseudo-channel floor of their kind; an ACT opens hits no
    /// earlier than tRCD, a PRE the bank's next ACT no earlier than tRP; a
    /// column command makes the bank's next hit or its PRE the candidates;
    /// accesses moved into the queue bring their own bound; a write-drain
    /// switch is looked at next cycle. Skipping the cycles in between changes
    /// nothing: the same commands issue at the same cycles.
    fn next_after(
        &self,
        c: u64,
        p: &Params,
        row: Option<Pick>,
        col: Option<Pick>,
        lost: Lost,
        refill_bound: u64,
    ) -> u64 {
        let t = &p.t;
        let mut next = refill_bound;
        let col_cmd = if self.draining {
            Command::Wr
        } else {
            Command::Rd
        };
        if lost.pre {
            return c + 1;
        }
        if lost.act {
            next = next.min(self.timing.act_floor());
        }
        if lost.col {
            next = next.min(self.timing.col_floor(self.draining, t));
        }
        if let Some(r) = row {
            next = next.min(match r.cmd {
                Command::Act => c + t.rcd_rd.min(t.rcd_wr) as u64,
                Command::Pre if r.entry != NO_ENTRY => c + t.rp as u64,
                _ => c + 1,
            });
        }
        if let Some(k) = col {
            let (reads, writes) = (self.q.len(0), self.q.len(1));
            let flip = if self.draining {
                writes == 0 || (writes <= p.write_low && reads > 0)
            } else {
                writes >= p.write_high || (reads == 0 && writes > 0)
            };
            if flip {
                return c + 1;
            }
            let kind = self.draining as usize;
            if self.q.hits[kind][k.bank] > 0 {
                next = next.min(self.timing.earliest(col_cmd, k.bank, t));
            }
            if self.q.conflicts[kind][k.bank] > 0 {
                next = next.min(self.timing.earliest(Command::Pre, k.bank, t));
            }
        }
        next.max(c + 1)
    }

    /// Finds, over the banks with requests in the active queue, the oldest
    /// ready column command (a row hit) and the oldest ready row command (ACT
    /// for a closed bank's oldest request, PRE for an open bank's oldest
    /// request for another row), as the policy allows.
    fn scan(&mut self, c: u64, p: &Params, blocked: Option<usize>, found: &mut Found) {
        let Found {
            row,
            col,
            wake,
            lost,
        } = found;
        let t = &p.t;
        let k = self.draining as usize;
        let fcfs = p.policy.in_order();
        // Pseudo-channel-wide lower bounds: when one is in the future no
        // command of that kind can issue, whatever the bank.
        let act_floor = self.timing.act_floor();
        let col_floor = self.timing.col_floor(self.draining, t);
        let col_cmd = if self.draining {
            Command::Wr
        } else {
            Command::Rd
        };
        let mut requested = self.q.nonempty(k);
        if let Some(b) = blocked.filter(|&b| b < 64) {
            requested &= !(1u64 << b);
        }
        let (mut best_row, mut best_col): (Best, Best) = (None, None);
        let mut offer = |best: &mut Best, at: u64, seq: u64, pick: Pick| {
            if at > c {
                *wake = (*wake).min(at);
                return;
            }
            match *best {
                Some((s, old)) if seq < s => {
                    lost.note(old.cmd);
                    *best = Some((seq, pick));
                }
                Some(_) => lost.note(pick.cmd),
                None => *best = Some((seq, pick)),
            }
        };
        // Closed banks: an ACT for each one's oldest request. While tFAW or
        // tRRD holds the pseudo-channel none can issue: skip them all.
        let closed = requested & !self.timing.open_mask;
        if closed != 0 && act_floor > c {
            offer(&mut best_row, act_floor, 0, Pick::NONE);
        } else {
            let mut m = closed;
            while m != 0 {
                let b = m.trailing_zeros() as usize;
                m &= m - 1;
                let head = self.q.head(k, b);
                let e = self.q.entry(head);
                let pick = Pick {
                    cmd: Command::Act,
                    bank: b,
                    row: e.row,
                    entry: head,
                };
                offer(
                    &mut best_row,
                    self.timing.earliest(Command::Act, b, t),
                    e.seq,
                    pick,
                );
            }
        }
        // Open banks: the oldest row hit (RD/WR) and the oldest request for
        // another row (PRE), as the policy allows.
        let mut m = requested & self.timing.open_mask;
        while m != 0 {
            let b = m.trailing_zeros() as usize;
            m &= m - 1;
            let bank = &self.timing.banks[b];
            let open = bank.open_row;
            let head = self.q.head(k, b);
            let view = BankView {
                hit_pending: self.q.hits[k][b] > 0,
                conflict_pending: self.q.conflicts[k][b] > 0,
                hits_served: bank.hits,
            };
            // In order (FCFS): only the bank's oldest request may be served.
            let (want_hit, want_pre) = if fcfs {
                let h = self.q.entry(head).row == open;
                (h, !h)
            } else {
                (
                    view.hit_pending && p.policy.may_hit(view),
                    view.conflict_pending && p.policy.may_close(view),
                )
            };
            // A bank's candidate entry is looked up only when its command is
            // ready now; otherwise its earliest cycle is all the scan needs.
            if want_hit {
                let at = if col_floor > c {
                    col_floor
                } else {
                    self.timing.earliest(col_cmd, b, t)
                };
                if at > c {
                    offer(&mut best_col, at, 0, Pick::NONE);
                } else {
                    let s = if fcfs {
                        head
                    } else {
                        self.q.oldest(k, b, open, true).expect("a queued hit")
                    };
                    let pick = Pick {
                        cmd: col_cmd,
                        bank: b,
                        row: open,
                        entry: s,
                    };
                    offer(&mut best_col, at, self.q.entry(s).seq, pick);
                }
            }
            if want_pre {
                let at = self.timing.earliest(Command::Pre, b, t);
                if at > c {
                    offer(&mut best_row, at, 0, Pick::NONE);
                } else {
                    let s = if fcfs {
                        head
                    } else {
                        self.q.oldest(k, b, open, false).expect("a queued conflict")
                    };
                    let pick = Pick {
                        cmd: Command::Pre,
                        bank: b,
                        row: self.q.entry(s).row,
                        entry: s,
                    };
                    offer(&mut best_row, at, self.q.entry(s).seq, pick);
                }
            }
        }
        // A refresh command chosen before the scan keeps the row bus.
        if row.is_none() {
            *row = best_row.map(|(_, pick)| pick);
        }
        *col = best_col.map(|(_, pick)| pick);
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
                || self.q.hits[0][b] + self.q.hits[1][b] > 0
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
                    entry: NO_ENTRY,
                });
            }
            *wake = (*wake).min(at);
        }
        None
    }

    fn issue_row(&mut self, r: Pick, c: u64, p: &Params, sink: &mut Sink) {
        let t = &p.t;
        match r.cmd {
            Command::Act => self.q.entry_mut(r.entry).caused |= 1,
            Command::Pre if r.entry != NO_ENTRY => self.q.entry_mut(r.entry).caused |= 2,
            Command::RefAb | Command::RefSb => self.refresh.issued(r.cmd, r.bank, t),
            _ => {}
        }
        self.timing.issue(r.cmd, r.bank, r.row, c, t);
        match r.cmd {
            Command::Act => self.q.opened(r.bank, r.row),
            Command::Pre => self.q.closed(r.bank),
            _ => {}
        }
        sink.command(c, self.index, r.cmd, r.bank, r.row);
    }

    /// Issues a column command; returns a lower bound on when the accesses
    /// it let into the queue can have a command issue.
    fn issue_col(&mut self, k: Pick, c: u64, p: &Params, sink: &mut Sink) -> u64 {
        let t = &p.t;
        let e = self.q.remove(k.entry, self.timing.banks[k.bank].open_row);
        self.timing.issue(k.cmd, k.bank, k.row, c, t);
        sink.command(c, self.index, k.cmd, k.bank, k.row);
        let done = if e.write {
            c + (t.cwl + t.bl) as u64
        } else {
            c + (t.cl + t.bl) as u64
        };
        sink.access_done(&e, self.index, done);
        self.refill(sink, c, t)
    }

    /// Checks the queues' lists, masks and hit/conflict counts against a
    /// recount (for `check_invariants`); returns what disagrees.
    pub fn count_mismatch(&self) -> Option<String> {
        self.q.mismatch(|b| self.timing.banks[b].open_row)
    }

    /// Why this controller holds work (for a deadlock report).
    pub fn describe(&self) -> String {
        format!(
            "{} reads and {} writes queued, {} waiting; next command no earlier than cycle {}",
            self.q.len(0),
            self.q.len(1),
            self.pending.len(),
            self.wake
        )
    }
}
