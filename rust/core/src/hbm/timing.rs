//! The timing state of one pseudo-channel: for each bank, bank group and the
//! pseudo-channel as a whole, the earliest cycle at which each command may
//! issue. Issuing a command pushes those cycles forward by the JEDEC
//! constraints it starts; asking when a command may issue is a max over a
//! few of them. (The independent checker in fabricsim.testing derives the
//! same constraints from the command history instead.)

use crate::spec::hbm::HbmTiming;

/// Row buffer state: `NO_ROW` when the bank is precharged.
pub const NO_ROW: u32 = u32::MAX;

/// DRAM commands, numbered as the command trace stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    Act = 0,
    Pre = 1,
    Rd = 2,
    Wr = 3,
    RefAb = 4,
    RefSb = 5,
}

impl Command {
    /// Row commands share the row command bus; RD and WR the column bus.
    pub fn is_row(self) -> bool {
        !matches!(self, Command::Rd | Command::Wr)
    }
}

/// One bank: its open row and the earliest cycle of each command.
#[derive(Clone, Copy, Debug)]
pub struct Bank {
    pub open_row: u32,
    pub act_ok: u64,
    pub pre_ok: u64,
    pub rd_ok: u64,
    pub wr_ok: u64,
    /// Column accesses served since the row opened (FR-FCFS starvation cap).
    pub hits: u32,
    /// Last cycle a column command used the open row (page timeout).
    pub last_use: u64,
    /// Its bank group within the pseudo-channel (sid x bank_groups + bg).
    pub group: u32,
}

impl Default for Bank {
    fn default() -> Self {
        Self {
            open_row: NO_ROW,
            act_ok: 0,
            pre_ok: 0,
            rd_ok: 0,
            wr_ok: 0,
            hits: 0,
            last_use: 0,
            group: 0,
        }
    }
}

/// Constraints between banks of one bank group (`_L`).
#[derive(Clone, Copy, Debug, Default)]
struct Group {
    act_ok: u64,
    rd_ok: u64,
    wr_ok: u64,
    /// RD after a WR of this group: its data, then tWTR_L.
    rd_after_wr: u64,
}

/// The timing state of one pseudo-channel.
#[derive(Clone, Debug)]
pub struct PcTiming {
    pub banks: Vec<Bank>,
    groups: Vec<Group>,
    // Across groups (`_S`) and pseudo-channel-wide constraints.
    act_ok: u64,
    rd_ok: u64,
    wr_ok: u64,
    rd_after_wr: u64,
    wr_after_rd: u64,
    /// The 4 most recent ACTs' cycles + tFAW (ring, oldest at `faw_next`).
    faw: [u64; 4],
    faw_next: usize,
    /// Data bus free from this cycle.
    data_free: u64,
    /// No ACT before this (REFab + tRFC).
    refab_until: u64,
    /// REFab: latest PRE + tRP and latest ACT + tRC of any bank; and the
    /// previous REFab + tRFC.
    ref_ok: u64,
    /// Banks with an open row, as a bit mask (<= 64 banks).
    pub open_mask: u64,
}

impl PcTiming {
    pub fn new(banks: usize, banks_per_group: usize) -> Self {
        Self {
            banks: (0..banks)
                .map(|b| Bank {
                    group: (b / banks_per_group) as u32,
                    ..Bank::default()
                })
                .collect(),
            groups: vec![Group::default(); banks / banks_per_group],

            act_ok: 0,
            rd_ok: 0,
            wr_ok: 0,
            rd_after_wr: 0,
            wr_after_rd: 0,
            faw: [0; 4],
            faw_next: 0,
            data_free: 0,
            refab_until: 0,
            ref_ok: 0,
            open_mask: 0,
        }
    }

    /// Earliest cycle `cmd` may issue to `bank` (state rules, such as "the
    /// bank must be open", are the caller's).
    #[inline]
    pub fn earliest(&self, cmd: Command, bank: usize, t: &HbmTiming) -> u64 {
        let b = &self.banks[bank];
        let g = &self.groups[b.group as usize];
        match cmd {
            Command::Act => b
                .act_ok
                .max(g.act_ok)
                .max(self.act_ok)
                .max(self.faw[self.faw_next])
                .max(self.refab_until),
            Command::Rd => b
                .rd_ok
                .max(g.rd_ok)
                .max(self.rd_ok)
                .max(g.rd_after_wr)
                .max(self.rd_after_wr)
                .max(self.data_free.saturating_sub(t.cl as u64)),
            Command::Wr => b
                .wr_ok
                .max(g.wr_ok)
                .max(self.wr_ok)
                .max(self.wr_after_rd)
                .max(self.data_free.saturating_sub(t.cwl as u64)),
            Command::Pre => b.pre_ok,
            Command::RefAb => self.ref_ok.max(self.refab_until),
            Command::RefSb => b.act_ok.max(self.refab_until),
        }
    }

    /// No ACT of this pseudo-channel can issue before this cycle.
    #[inline]
    pub fn act_floor(&self) -> u64 {
        self.act_ok
            .max(self.faw[self.faw_next])
            .max(self.refab_until)
    }

    /// No RD (or WR, when `write`) can issue before this cycle.
    #[inline]
    pub fn col_floor(&self, write: bool, t: &HbmTiming) -> u64 {
        if write {
            self.wr_ok
                .max(self.wr_after_rd)
                .max(self.data_free.saturating_sub(t.cwl as u64))
        } else {
            self.rd_ok
                .max(self.rd_after_wr)
                .max(self.data_free.saturating_sub(t.cl as u64))
        }
    }

    /// Records `cmd` issued at cycle `c` to `bank` (row `row` for ACT).
    pub fn issue(&mut self, cmd: Command, bank: usize, row: u32, c: u64, t: &HbmTiming) {
        let gi = self.banks[bank].group as usize;
        let (g, b) = (&mut self.groups[gi], &mut self.banks[bank]);
        let at = |d: u32| c + d as u64;
        match cmd {
            Command::Act => {
                debug_assert_eq!(b.open_row, NO_ROW);
                b.open_row = row;
                b.hits = 0;
                b.last_use = c;
                b.act_ok = at(t.rc);
                b.pre_ok = b.pre_ok.max(at(t.ras));
                b.rd_ok = at(t.rcd_rd);
                b.wr_ok = at(t.rcd_wr);
                g.act_ok = at(t.rrd_l);
                self.act_ok = at(t.rrd_s);
                self.faw[self.faw_next] = at(t.faw);
                self.faw_next = (self.faw_next + 1) % 4;
                // JEDEC's tRC is ACT to ACT *or REF*: a REFab waits for every
                // bank's (tRAS + tRP can round to one cycle less than tRC)
                self.ref_ok = self.ref_ok.max(at(t.rc));
                self.open_mask |= 1 << bank;
            }
            Command::Pre => {
                debug_assert_ne!(b.open_row, NO_ROW);
                b.open_row = NO_ROW;
                b.act_ok = b.act_ok.max(at(t.rp));
                self.ref_ok = self.ref_ok.max(at(t.rp));
                self.open_mask &= !(1 << bank);
            }
            Command::Rd => {
                b.hits += 1;
                b.last_use = c;
                b.pre_ok = b.pre_ok.max(at(t.rtp));
                g.rd_ok = at(t.ccd_l);
                self.rd_ok = at(t.ccd_s);
                self.wr_after_rd = at(t.rtw);
                self.data_free = at(t.cl + t.bl);
            }
            Command::Wr => {
                b.hits += 1;
                b.last_use = c;
                let data_end = t.cwl + t.bl;
                b.pre_ok = b.pre_ok.max(at(data_end + t.wr));
                g.wr_ok = at(t.ccd_l);
                g.rd_after_wr = at(data_end + t.wtr_l);
                self.wr_ok = at(t.ccd_s);
                self.rd_after_wr = at(data_end + t.wtr_s);
                self.data_free = at(data_end);
            }
            Command::RefAb => {
                debug_assert_eq!(self.open_mask, 0);
                self.refab_until = at(t.rfc);
                self.ref_ok = at(t.rfc);
            }
            Command::RefSb => {
                debug_assert_eq!(b.open_row, NO_ROW);
                b.act_ok = b.act_ok.max(at(t.rfc_sb));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::presets::hbm_preset;

    #[test]
    fn an_all_bank_refresh_waits_trc_after_the_last_act_as_jedec_defines_trc() {
        for name in ["hbm3", "hbm3e"] {
            let t = hbm_preset(name).unwrap().timing;
            // these presets round tRAS + tRP to one cycle under tRC: the case that broke
            assert!(t.ras + t.rp < t.rc, "{name}");
            let mut pc = PcTiming::new(16, 4);
            pc.issue(Command::Act, 3, 7, 100, &t);
            let pre = pc.earliest(Command::Pre, 3, &t);
            pc.issue(Command::Pre, 3, 0, pre, &t);
            assert_eq!(pre, 100 + t.ras as u64);
            assert_eq!(
                pc.earliest(Command::RefAb, 0, &t),
                100 + t.rc as u64,
                "{name}"
            );
            assert_eq!(
                pc.earliest(Command::RefSb, 3, &t),
                100 + t.rc as u64,
                "{name}"
            );
        }
    }
}
