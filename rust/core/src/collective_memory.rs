//! The HBM behind each rank of a collective: sends read their data from the
//! sender's stack piece by piece (each piece goes out as a message when
//! read), arriving pieces are written into the receiver's stack, reduces
//! read two inputs and write one output, copies read one and write one.
//!
//! Buffers are streams: each rank's accesses walk its stack's address space
//! in order (large contiguous buffers), wrapping at its end.

use crate::error::Result;
use crate::hbm::{MemoryRequests, MemorySystem};
use crate::memfabric::device::{advance_due, next_wake, Device, Finished};
use crate::spec::hbm::HbmSpec;
use crate::spec::memory::ControllerSpec;
use crate::time::{ClockDomain, Cycle, Ps};

/// What each rank's memory is and how sends are cut.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectiveMemory {
    pub hbm: HbmSpec,
    #[serde(default)]
    pub controller: ControllerSpec,
    /// Sends, receives, reduces and copies move data in pieces of this many
    /// bytes (a send's piece leaves as soon as it has been read).
    pub piece_bytes: u64,
}

/// One memory access of a piece: for operation `op`, `bytes`, a write or a read.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub op: u32,
    pub bytes: u32,
    pub write: bool,
}

pub struct RankMemory {
    pub devices: Vec<Device>,
    /// Every access given to a stack (a device's request rows index this).
    pub accesses: Vec<Access>,
    cursor: Vec<u64>,
    capacity: u64,
    pub piece_bytes: u64,
    done: Vec<Finished>,
    /// Accesses given to the stacks and not finished.
    pending: u64,
}

impl RankMemory {
    pub fn new(m: &CollectiveMemory, ranks: usize, fabric: ClockDomain) -> Result<Self> {
        let mut devices = Vec::with_capacity(ranks);
        for r in 0..ranks as u32 {
            let mem = MemorySystem::new(&m.hbm, &m.controller, MemoryRequests::default(), false)
                .map_err(|e| e.within("memory"))?;
            devices.push(Device::new(r, mem, m.hbm.tck_ns, fabric, Vec::new()));
        }
        let capacity = devices.first().map_or(0, |d| d.mem.capacity());
        Ok(Self {
            devices,
            accesses: Vec::new(),
            cursor: vec![0; ranks],
            capacity,
            piece_bytes: m.piece_bytes.max(1),
            done: Vec::new(),
            pending: 0,
        })
    }

    /// The pieces `bytes` is cut into: `(count, size of all but the last, last)`.
    pub fn pieces(&self, bytes: u64) -> (u64, u64, u64) {
        let n = bytes.div_ceil(self.piece_bytes).max(1);
        (n, self.piece_bytes, bytes - (n - 1) * self.piece_bytes)
    }

    /// Gives rank `rank`'s stack an access of `bytes` for `op` at time `t`.
    pub fn access(&mut self, rank: u32, op: u32, bytes: u64, write: bool, t: Ps) {
        let r = rank as usize;
        let bytes = bytes.min(self.capacity);
        if self.cursor[r] + bytes > self.capacity {
            self.cursor[r] = 0;
        }
        let addr = self.cursor[r];
        self.cursor[r] += bytes;
        let id = self.accesses.len() as u32;
        self.accesses.push(Access {
            op,
            bytes: bytes as u32,
            write,
        });
        self.devices[r].push(id, addr, bytes as u32, write, t);
        self.pending += 1;
    }

    /// Gives `rank`'s stack one access per piece of `bytes` (`per_piece` of
    /// each, for a reduce's two inputs) for `op` at `t`; returns how many.
    pub fn access_pieces(
        &mut self,
        rank: u32,
        op: u32,
        bytes: u64,
        per_piece: u32,
        write: bool,
        t: Ps,
    ) -> u32 {
        let (n, size, last) = self.pieces(bytes);
        for k in 0..n {
            let b = if k + 1 == n { last } else { size };
            for _ in 0..per_piece {
                self.access(rank, op, b, write, t);
            }
        }
        n as u32 * per_piece
    }

    /// Runs every stack with work due by fabric cycle `c` (time `t`); calls
    /// `f(access)` for each access that finished.
    pub fn advance(&mut self, c: Cycle, t: Ps, mut f: impl FnMut(Access)) -> Result<()> {
        let mut done = std::mem::take(&mut self.done);
        advance_due(&mut self.devices, c, t, &mut done)?;
        self.pending -= done.len() as u64;
        for &(_, id, _) in &done {
            f(self.accesses[id as usize]);
        }
        done.clear();
        self.done = done;
        Ok(())
    }

    /// Accesses given to the stacks and not finished.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    pub fn next_event(&self) -> Option<Cycle> {
        next_wake(&self.devices)
    }
}
