//! A whole stack: its pseudo-channel controllers, the channels' shared
//! command buses, and a front end that admits requests (split into accesses
//! of `access_bytes`) in arrival order under an outstanding-request limit.

use super::controller::{Buses, Controller, Entry, Params, NEVER};
use super::mapping::AddressMapping;
use super::sink::Sink;
use crate::engine::{Activity, Model};
use crate::error::{Error, Result, WaitingChannel};
use crate::spec::hbm::HbmSpec;
use crate::spec::memory::ControllerSpec;

/// Requests as columns, in arrival order.
#[derive(Clone, Debug, Default)]
pub struct MemoryRequests {
    pub addr: Vec<u64>,
    pub bytes: Vec<u32>,
    pub write: Vec<bool>,
    /// Arrival, in CK cycles (non-decreasing).
    pub arrival: Vec<u64>,
    /// At most this many requests in the memory at once (0: no limit).
    pub outstanding: u32,
}

impl MemoryRequests {
    pub fn validate(&self, capacity: u64) -> Result<()> {
        let n = self.addr.len();
        for (name, len) in [
            ("bytes", self.bytes.len()),
            ("write", self.write.len()),
            ("arrival", self.arrival.len()),
        ] {
            if len != n {
                return Err(Error::spec(
                    format!("traffic.{name}"),
                    format!("has {len} entries but traffic.addr has {n}"),
                ));
            }
        }
        if n > u32::MAX as usize {
            return Err(Error::spec(
                "traffic",
                format!("at most {} requests, got {n}", u32::MAX),
            ));
        }
        for i in 0..n {
            let b = self.bytes[i];
            if !(1..=1 << 24).contains(&b) {
                return Err(Error::spec(
                    format!("traffic.bytes[{i}]"),
                    format!("must be in 1..=16777216, got {b}"),
                ));
            }
            if self.addr[i]
                .checked_add(b as u64)
                .is_none_or(|end| end > capacity)
            {
                return Err(Error::spec(
                    format!("traffic.addr[{i}]"),
                    format!(
                        "{:#x} + {b} bytes is beyond the stack's capacity of {capacity:#x} bytes",
                        self.addr[i]
                    ),
                ));
            }
            if i > 0 && self.arrival[i] < self.arrival[i - 1] {
                return Err(Error::spec(
                    format!("traffic.arrival[{i}]"),
                    format!(
                        "must not be before the previous request's ({} < {})",
                        self.arrival[i],
                        self.arrival[i - 1]
                    ),
                ));
            }
        }
        Ok(())
    }
}

pub struct MemorySystem {
    params: Params,
    mapping: AddressMapping,
    pcs: Vec<Controller>,
    pseudo_channels: usize,
    channels: usize,
    banks_per_pc: usize,
    bank_groups: u32,
    banks_per_group: u32,
    access_bytes: u64,
    pub sink: Sink,
    reqs: MemoryRequests,
    next_req: usize,
    outstanding: u32,
    pieces_left: Vec<u32>,
    /// Per request: cycle admitted, cycle its last access finished.
    pub admitted: Vec<u64>,
    pub finished: Vec<u64>,
    pub completed: usize,
    last_done: u64,
    /// Requests finished since the owner last took them (kept only when
    /// something listens, as the memory fabric does).
    pub done_feed: Option<Vec<u32>>,
    /// The earliest controller wake, as of the end of the last step (the
    /// controllers change only inside `step`).
    min_wake: u64,
}

impl MemorySystem {
    pub fn new(
        hbm: &HbmSpec,
        ctrl: &ControllerSpec,
        reqs: MemoryRequests,
        record: bool,
    ) -> Result<Self> {
        hbm.validate().map_err(|e| e.within("hbm"))?;
        ctrl.validate().map_err(|e| e.within("controller"))?;
        let mapping = AddressMapping::new(&ctrl.mapping, ctrl.xor_bank_hash, hbm).map_err(|e| {
            if e.to_string().starts_with("hbm.") {
                e
            } else {
                e.within("controller")
            }
        })?;
        reqs.validate(mapping.capacity())?;
        let params = Params::new(&hbm.timing, ctrl);
        let banks_per_pc = (hbm.sids * hbm.bank_groups * hbm.banks_per_group) as usize;
        if banks_per_pc > 64 {
            return Err(Error::spec(
                "hbm",
                format!(
                    "sids x bank_groups x banks_per_group = {banks_per_pc} banks per pseudo-channel; the controller model handles at most 64"
                ),
            ));
        }
        let num_pcs = hbm.channels * hbm.pseudo_channels;
        let pcs = (0..num_pcs)
            .map(|i| {
                Controller::new(
                    i,
                    num_pcs,
                    banks_per_pc,
                    hbm.banks_per_group as usize,
                    &params,
                )
            })
            .collect();
        let n = reqs.addr.len();
        Ok(Self {
            params,
            mapping,
            pcs,
            pseudo_channels: hbm.pseudo_channels as usize,
            channels: hbm.channels as usize,
            banks_per_pc,
            bank_groups: hbm.bank_groups,
            banks_per_group: hbm.banks_per_group,
            access_bytes: hbm.access_bytes(),
            sink: Sink::new(num_pcs as usize * banks_per_pc, banks_per_pc, record),
            reqs,
            next_req: 0,
            outstanding: 0,
            pieces_left: vec![0; n],
            admitted: vec![NEVER; n],
            finished: vec![NEVER; n],
            completed: 0,
            last_done: 0,
            done_feed: None,
            min_wake: 0,
        })
    }

    pub fn banks_per_pc(&self) -> usize {
        self.banks_per_pc
    }

    /// Cycle of the last completion.
    pub fn last_done(&self) -> u64 {
        self.last_done
    }

    /// Splits a bank index within a pseudo-channel into (sid, bank group, bank).
    pub fn split_bank(&self, bank: u32) -> (u32, u32, u32) {
        let b = bank % self.banks_per_group;
        let g = bank / self.banks_per_group;
        (g / self.bank_groups, g % self.bank_groups, b)
    }

    /// Bytes the stack holds (requests must fall inside).
    pub fn capacity(&self) -> u64 {
        self.mapping.capacity()
    }

    /// Adds a request arriving at CK cycle `arrival` (not before any request
    /// already given, and after every cycle already stepped); `addr..addr +
    /// bytes` must lie in the stack (checked by the caller). Returns its index.
    pub fn push(&mut self, addr: u64, bytes: u32, write: bool, arrival: u64) -> u32 {
        debug_assert!(addr + bytes as u64 <= self.capacity());
        debug_assert!(self.reqs.arrival.last().is_none_or(|&a| a <= arrival));
        let r = self.reqs.addr.len() as u32;
        self.reqs.addr.push(addr);
        self.reqs.bytes.push(bytes);
        self.reqs.write.push(write);
        self.reqs.arrival.push(arrival);
        self.pieces_left.push(0);
        self.admitted.push(NEVER);
        self.finished.push(NEVER);
        r
    }

    fn admit(&mut self, c: u64) {
        let limit = self.reqs.outstanding;
        while self.next_req < self.reqs.addr.len()
            && self.reqs.arrival[self.next_req] <= c
            && (limit == 0 || self.outstanding < limit)
        {
            let r = self.next_req;
            self.next_req += 1;
            self.outstanding += 1;
            self.admitted[r] = c;
            let (addr, bytes, write) = (
                self.reqs.addr[r],
                self.reqs.bytes[r] as u64,
                self.reqs.write[r],
            );
            let first = addr / self.access_bytes;
            let last = (addr + bytes - 1) / self.access_bytes;
            self.pieces_left[r] = (last - first + 1) as u32;
            for a in first..=last {
                let loc = self.mapping.decode(a * self.access_bytes);
                let pc = loc.channel as usize * self.pseudo_channels + loc.pseudo_channel as usize;
                let bank =
                    (loc.sid * self.bank_groups + loc.bank_group) * self.banks_per_group + loc.bank;
                let e = Entry {
                    seq: 0,
                    req: r as u32,
                    bank: bank as u16,
                    write,
                    caused: 0,
                    row: loc.row,
                    column: loc.column,
                };
                if !self.pcs[pc].accept(e, c) {
                    self.sink.forward(r as u32, c);
                }
            }
        }
    }

    fn complete(&mut self, c: u64) -> bool {
        let (left, finished, outstanding, completed, last, feed) = (
            &mut self.pieces_left,
            &mut self.finished,
            &mut self.outstanding,
            &mut self.completed,
            &mut self.last_done,
            &mut self.done_feed,
        );
        let mut any = false;
        self.sink.drain_done(c, |req, at| {
            any = true;
            let r = req as usize;
            left[r] -= 1;
            if left[r] == 0 {
                finished[r] = at;
                *outstanding -= 1;
                *completed += 1;
                *last = (*last).max(at);
                if let Some(feed) = feed.as_mut() {
                    feed.push(req);
                }
            }
        });
        any
    }
}

impl Model for MemorySystem {
    fn step(&mut self, c: u64) -> Result<Activity> {
        let mut progressed = self.complete(c);
        self.admit(c);
        let p = self.pseudo_channels;
        let mut min_wake = NEVER;
        for ch in 0..self.channels {
            let mut buses = Buses {
                row_free: true,
                col_free: true,
            };
            // The pseudo-channels of a channel take turns at the buses.
            for k in 0..p {
                let i = ch * p + (c as usize + k) % p;
                if self.pcs[i].wake <= c {
                    progressed |= self.pcs[i].tick(c, &self.params, &mut buses, &mut self.sink);
                }
                min_wake = min_wake.min(self.pcs[i].wake);
            }
        }
        self.min_wake = min_wake;
        // Never "busy": the driver asks `next_event` (the controllers'
        // wakes, completions, arrivals) and steps exactly that cycle, so the
        // minimum over the controllers is computed once per step.
        Ok(Activity {
            busy: false,
            progressed,
        })
    }

    fn account_idle(&mut self, _from: u64, _to: u64) {}

    fn next_event(&self) -> Option<u64> {
        let mut next = self.min_wake;
        if let Some(d) = self.sink.next_done() {
            next = next.min(d);
        }
        let limit = self.reqs.outstanding;
        if self.next_req < self.reqs.arrival.len() && (limit == 0 || self.outstanding < limit) {
            next = next.min(self.reqs.arrival[self.next_req]);
        }
        (next != NEVER).then_some(next)
    }

    fn done(&self) -> bool {
        self.completed == self.reqs.addr.len()
    }

    fn work_in_system(&self) -> bool {
        !self.done()
    }

    fn min_watchdog_cycles(&self) -> u64 {
        let t = &self.params.t;
        2 * (t.refi + t.rfc) as u64
    }

    fn check_invariants(&self, c: u64) -> Result<()> {
        for pc in &self.pcs {
            let (r, w, _) = pc.queued();
            if r > self.params.read_queue || w > self.params.write_queue {
                return Err(Error::Invariant {
                    cycle: c,
                    message: format!(
                        "pseudo-channel {} holds {r} reads and {w} writes, above its queues ({} / {})",
                        pc.index, self.params.read_queue, self.params.write_queue
                    ),
                });
            }
        }
        if let Some(m) = self.pcs.iter().find_map(|pc| pc.count_mismatch()) {
            return Err(Error::Invariant {
                cycle: c,
                message: format!("row-hit bookkeeping: {m}"),
            });
        }
        let in_flight = self.next_req - self.completed;
        if in_flight != self.outstanding as usize {
            return Err(Error::Invariant {
                cycle: c,
                message: format!(
                    "{in_flight} requests in flight but {} counted outstanding",
                    self.outstanding
                ),
            });
        }
        Ok(())
    }

    fn progress(&self) -> (u64, u64) {
        (self.completed as u64, self.reqs.addr.len() as u64)
    }

    fn waiting(&self) -> Vec<WaitingChannel> {
        self.pcs
            .iter()
            .filter(|pc| pc.queued() != (0, 0, 0))
            .map(|pc| WaitingChannel {
                node: pc.index,
                port: 0,
                vc: 0,
                reason: pc.describe(),
            })
            .collect()
    }
}
