//! What a run returns: plain columns, ready to become numpy arrays.

use crate::time::Ps;

/// Marks a time that never came (message never sent / delivered).
pub const NEVER_PS: Ps = Ps::MAX;

#[derive(Clone, Debug, PartialEq)]
pub struct LinkRecord {
    pub src: u32,
    pub dst: u32,
    /// Flits sent (each one cycle of the link busy).
    pub flits: u64,
    /// Message payload bytes carried.
    pub payload_bytes: u64,
    /// Cycles in which a flit waited and no VC holding one had a credit.
    pub credit_stall_cycles: u64,
    /// Largest number of flits held by the receive buffers at once.
    pub max_occupancy: u32,
    /// Receive-buffer occupancy histogram: `occupancy_cycles[i]` cycles with
    /// `i * occupancy_width ..` flits held (all VCs).
    pub occupancy_width: u64,
    pub occupancy_cycles: Vec<u64>,
    /// Link-layer reliability counters (see `network::LinkDirStats`).
    pub flits_replayed: u64,
    pub flits_corrupted: u64,
    pub flits_fec_corrected: u64,
    pub flits_undetected: u64,
    pub flits_lost: u64,
    pub replay_stall_cycles: u64,
    pub naks: u64,
    pub acks: u64,
    pub replay_timeouts: u64,
    pub credits_dropped: u64,
    pub acks_dropped: u64,
    /// The link's capacity in flits per fabric cycle as `(num, den)`: 1/1,
    /// except for a slower kind of link (a cluster's scale-out network).
    pub pace: (u64, u64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Every message was delivered (false for a partial result).
    pub complete: bool,
    /// Cycles simulated: `0..cycles` of the fabric clock.
    pub cycles: u64,
    /// The fabric clock period as `(num, den)` ps.
    pub cycle_ps: (u64, u64),
    /// End of the simulated window (start of cycle `cycles`).
    pub end_ps: Ps,
    pub events: u64,
    /// Per message, as given in the traffic: when its first flit went on the
    /// wire, and when its last flit was drained at the destination
    /// (`NEVER_PS` if not reached).
    pub send_ps: Vec<Ps>,
    pub deliver_ps: Vec<Ps>,
    /// Per message, its rank in the order of delivery (`u64::MAX` if not
    /// delivered): orders messages delivered in the same cycle.
    pub deliver_order: Vec<u64>,
    /// Per message: a flit of it was passed up with errors the CRC missed.
    pub corrupt: Vec<bool>,
    /// One row per link and direction; `src`/`dst` number endpoints
    /// `0..num_endpoints`, then routers from `num_endpoints` on.
    pub links: Vec<LinkRecord>,
    pub num_endpoints: u32,
    /// Wall-clock seconds spent in the cycle loop. Not part of the
    /// deterministic result (excluded from comparisons).
    pub wall_seconds: f64,
}

impl RunResult {
    /// Equality of everything simulated (all but wall time).
    pub fn same_simulation(&self, other: &RunResult) -> bool {
        let mut a = self.clone();
        a.wall_seconds = other.wall_seconds;
        a == *other
    }
}
