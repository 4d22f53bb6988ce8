//! A memory device at a fabric endpoint: an HBM stack on its own clock, fed
//! by the fabric's requests, and the bounded queue that pushes back on the
//! fabric when it is full.
//!
//! Clock crossing: the fabric steps cycle `c` (time `t`); first the stack
//! runs every CK cycle that starts at or before `t`, then requests that
//! reach the device during `c` enter the controller at the first CK edge
//! after `t`; a finished access is seen by the fabric at the first fabric
//! cycle starting at or after its CK cycle.

use crate::engine::Model;
use crate::error::Result;
use crate::hbm::MemorySystem;
use crate::ids::LinkDirId;
use crate::time::{ClockDomain, Cycle, Ps};

pub struct Device {
    pub endpoint: u32,
    pub mem: MemorySystem,
    pub ck: ClockDomain,
    /// The last CK cycle stepped, plus one (0: none yet).
    ck_next: u64,
    /// The first fabric cycle at which the stack has something to do
    /// (`Cycle::MAX`: nothing), kept up to date by `push` and `advance`.
    pub wake: Cycle,
    fabric: ClockDomain,
    /// Per request given to the stack: the request row it serves.
    pub row_of: Vec<u32>,
    /// Fabric requests held (taken in, response not yet fully sent).
    pub slots: u32,
    /// Link directions arriving here.
    pub inputs: Vec<LinkDirId>,
}

/// Turns an HBM clock period in ns into an exact clock (to 1/1000 ps).
pub fn ck_clock(tck_ns: f64) -> ClockDomain {
    ClockDomain::from_ratio((tck_ns * 1e6).round() as u64, 1000)
        .expect("a validated tCK is at least 1 ps")
}

impl Device {
    pub fn new(
        endpoint: u32,
        mut mem: MemorySystem,
        tck_ns: f64,
        fabric: ClockDomain,
        inputs: Vec<LinkDirId>,
    ) -> Self {
        mem.done_feed = Some(Vec::new());
        let mut d = Self {
            endpoint,
            mem,
            ck: ck_clock(tck_ns),
            ck_next: 0,
            wake: Cycle::MAX,
            fabric,
            row_of: Vec::new(),
            slots: 0,
            inputs,
        };
        d.update_wake();
        d
    }

    /// Gives the stack a request arriving at time `t` for row `row`.
    pub fn push(&mut self, row: u32, addr: u64, bytes: u32, write: bool, t: Ps) {
        let arrival = self.ck.cycle_at_or_after(t + 1).max(self.ck_next);
        self.mem.push(addr, bytes, write, arrival);
        self.row_of.push(row);
        self.update_wake();
    }

    /// Runs the stack through every CK cycle starting at or before `t`;
    /// appends `(endpoint, row, finished at)` for each access that finished.
    pub fn advance(&mut self, t: Ps, done: &mut Vec<Finished>) -> Result<()> {
        let last = self.ck.cycle_at_or_after(t + 1); // first CK cycle after t
        while let Some(h) = self.mem.next_event() {
            if h >= last {
                break;
            }
            let h = h.max(self.ck_next);
            self.mem.step(h)?;
            self.ck_next = h + 1;
            let feed = self.mem.done_feed.as_mut().expect("set in new");
            for r in feed.drain(..) {
                let at = self.mem.finished[r as usize];
                done.push((self.endpoint, self.row_of[r as usize], self.ck.start_ps(at)));
            }
        }
        self.update_wake();
        Ok(())
    }

    fn update_wake(&mut self) {
        self.wake = self.mem.next_event().map_or(Cycle::MAX, |h| {
            self.fabric
                .cycle_at_or_after(self.ck.start_ps(h.max(self.ck_next)))
        });
    }
}

/// An access a stack finished: `(endpoint, row, time)`.
pub type Finished = (u32, u32, Ps);

/// Runs every device with work due by fabric cycle `c` up to time `t`,
/// appending what finished to `done` in device order (the memory fabric's
/// stacks and a collective's ranks' stacks alike).
pub fn advance_due(
    devices: &mut [Device],
    c: Cycle,
    t: Ps,
    done: &mut Vec<Finished>,
) -> Result<()> {
    for d in devices.iter_mut().filter(|d| d.wake <= c) {
        d.advance(t, done)?;
    }
    Ok(())
}

/// The first fabric cycle at which any device has work.
pub fn next_wake(devices: &[Device]) -> Option<Cycle> {
    devices
        .iter()
        .map(|d| d.wake)
        .filter(|&w| w != Cycle::MAX)
        .min()
}
