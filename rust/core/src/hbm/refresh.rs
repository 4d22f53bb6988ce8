//! Refresh of one pseudo-channel: when it falls due, which bank it takes,
//! and the command (PRE, then REFab or REFsb) it needs next.
//!
//! Deadlines are fixed (`k x tREFI` plus a stagger over the stack's
//! pseudo-channels), so a late refresh does not drift the next one. While a
//! refresh is due it blocks what it needs: every bank (all-bank), or its
//! target bank (per-bank).

use super::controller::NEVER;
use super::timing::{Command, PcTiming, NO_ROW};
use crate::spec::hbm::HbmTiming;
use crate::spec::memory::RefreshMode;

/// Every bank is blocked (all-bank refresh due).
pub const ALL_BANKS: usize = usize::MAX;

#[derive(Clone, Debug)]
pub struct Refresh {
    mode: RefreshMode,
    due: u64,
    /// Per-bank: the bank being refreshed, the banks refreshed in this round,
    /// and where the next search starts.
    target: Option<usize>,
    refreshed: Vec<bool>,
    refreshed_count: usize,
    ptr: usize,
}

/// What a due refresh wants this cycle.
pub struct Due {
    /// The bank it blocks (`ALL_BANKS` for all-bank refresh).
    pub blocks: usize,
    /// The command to issue now on the row bus, and its bank, if one is legal.
    pub command: Option<(Command, usize)>,
}

impl Refresh {
    pub fn new(mode: RefreshMode, index: u32, num_pcs: u32, banks: usize, t: &HbmTiming) -> Self {
        // Staggered over the stack's pseudo-channels, as controllers do to
        // spread the current draw.
        let interval = match mode {
            RefreshMode::AllBank => t.refi as u64,
            RefreshMode::PerBank => t.refi_sb.max(1) as u64,
            RefreshMode::Off => 0,
        };
        let due = if interval == 0 {
            NEVER
        } else {
            ((index as u64 + 1) * interval / num_pcs as u64).max(1)
        };
        Self {
            mode,
            due,
            target: None,
            refreshed: vec![false; banks],
            refreshed_count: 0,
            ptr: 0,
        }
    }

    /// The next deadline (`NEVER` without refresh).
    pub fn due(&self) -> u64 {
        self.due
    }

    /// At cycle `c` (at or past the deadline): what the refresh blocks and
    /// the command it can issue now; otherwise lowers `wake` to when it can.
    /// `busy` marks the banks with queued requests.
    pub fn step(
        &mut self,
        c: u64,
        timing: &PcTiming,
        busy: u64,
        t: &HbmTiming,
        wake: &mut u64,
    ) -> Due {
        match self.mode {
            RefreshMode::AllBank => Due {
                blocks: ALL_BANKS,
                command: all_bank(timing, c, t, wake),
            },
            RefreshMode::PerBank => {
                let b = match self.target {
                    Some(b) => b,
                    None => {
                        let b = self.choose(timing, busy);
                        self.target = Some(b);
                        b
                    }
                };
                let cmd = if timing.banks[b].open_row != NO_ROW {
                    Command::Pre
                } else {
                    Command::RefSb
                };
                let at = timing.earliest(cmd, b, t);
                let command = if at <= c {
                    Some((cmd, b))
                } else {
                    *wake = (*wake).min(at);
                    None
                };
                Due { blocks: b, command }
            }
            RefreshMode::Off => unreachable!("never due without refresh"),
        }
    }

    /// Which bank a due per-bank refresh takes: among the banks not yet
    /// refreshed in this round (each bank once per round of `banks` REFsb,
    /// about one tREFI) with nothing queued, the one left most recently,
    /// a bank being left when a later one of its bank group has been used
    /// since; else the most recently used of them; else the next in turn.
    /// The bank a stream has just left is the last it comes back to (the
    /// idea of DARP, Chang et al., HPCA 2014). The "left" test matters: a
    /// stream interleaved over bank groups keeps the latest bank of every
    /// group in use, with nothing queued at some of them at any instant; the
    /// most recently used idle bank was then one the stream was about to
    /// reach, which cut a closed-loop HBM3 stream (256 outstanding) from 695
    /// to 210 GB/s (docs/hbm.md, "Refresh under a closed loop").
    fn choose(&self, timing: &PcTiming, busy: u64) -> usize {
        let n = self.refreshed.len();
        let banks = &timing.banks;
        let in_use = |b: usize| {
            let (g, used) = (banks[b].group, banks[b].last_use);
            !banks.iter().any(|o| o.group == g && o.last_use > used)
        };
        // (last use, bank): the most recently left idle bank, and any idle one
        let (mut left, mut idle, mut first) = (None::<(u64, usize)>, None::<(u64, usize)>, None);
        for k in 0..n {
            let b = (self.ptr + k) % n;
            if self.refreshed[b] {
                continue;
            }
            first.get_or_insert(b);
            if busy >> b & 1 != 0 {
                continue;
            }
            let used = banks[b].last_use;
            if idle.is_none_or(|(u, _)| used > u) {
                idle = Some((used, b));
            }
            if left.is_none_or(|(u, _)| used > u) && !in_use(b) {
                left = Some((used, b));
            }
        }
        left.or(idle)
            .map(|(_, b)| b)
            .or(first)
            .expect("a round always has a bank left to refresh")
    }

    /// A REFab or REFsb of `bank` was issued: the next deadline, and the round.
    pub fn issued(&mut self, cmd: Command, bank: usize, t: &HbmTiming) {
        match cmd {
            Command::RefAb => self.due += t.refi as u64,
            Command::RefSb => {
                self.due += t.refi_sb as u64;
                let n = self.refreshed.len();
                self.refreshed[bank] = true;
                self.refreshed_count += 1;
                if self.refreshed_count == n {
                    self.refreshed.iter_mut().for_each(|b| *b = false);
                    self.refreshed_count = 0;
                }
                self.ptr = (bank + 1) % n;
                self.target = None;
            }
            _ => {}
        }
    }
}

/// All-bank refresh: close every open bank (one PRE per cycle), then REFab.
fn all_bank(timing: &PcTiming, c: u64, t: &HbmTiming, wake: &mut u64) -> Option<(Command, usize)> {
    if timing.open_mask != 0 {
        for (b, bank) in timing.banks.iter().enumerate() {
            if bank.open_row != NO_ROW {
                let at = timing.earliest(Command::Pre, b, t);
                if at <= c {
                    return Some((Command::Pre, b));
                }
                *wake = (*wake).min(at);
            }
        }
        return None;
    }
    let at = timing.earliest(Command::RefAb, 0, t);
    if at <= c {
        return Some((Command::RefAb, 0));
    }
    *wake = (*wake).min(at);
    None
}
