//! What a run returns: plain columns, ready to become numpy arrays.

use crate::time::Ps;

/// Marks a time that never came (message never sent / delivered).
pub const NEVER_PS: Ps = Ps::MAX;

crate::counters! {
    /// The link layer's counters that a link direction keeps itself
    /// (`network::LinkDirStats`, on the per-flit path: keep it small). Each
    /// becomes a column of Python's `Result.links`, with this doc.
    pub struct LinkCounters {
        /// Flits sent again by the retry protocol.
        flits_replayed,
        /// Flits that arrived with errors the CRC caught (dropped, replayed).
        flits_corrupted,
        /// Flits whose errors FEC corrected.
        flits_fec_corrected,
        /// Flits with errors the CRC missed (passed up corrupt).
        flits_undetected,
        /// Flits that vanished on a link that was down.
        flits_lost,
        /// Cycles a new flit waited for room in the replay buffer.
        replay_stall_cycles,
        /// Credit returns lost to scripted faults.
        credits_dropped,
        /// ACKs and NAKs lost to scripted faults.
        acks_dropped,
    }
}

crate::counters! {
    /// The link layer's counters that its retry state keeps (`link::retry`),
    /// copied by the report; columns of `Result.links` after
    /// [`LinkCounters`]'.
    pub struct RetryCounters {
        /// NAKs the receiver sent.
        naks,
        /// ACKs the receiver sent.
        acks,
        /// Replay timeouts that fired at the sender.
        replay_timeouts,
    }
}

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
    /// Link-layer counters, exported column by column in their order, then
    /// the retry state's.
    pub counters: LinkCounters,
    pub retry: RetryCounters,
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
    /// Every link direction's flits carried at evenly spaced times, when
    /// the options asked for them (`RunOptions::link_samples`).
    pub link_samples: Option<crate::link_samples::LinkSamples>,
    /// When each message crossed each link direction, when the options
    /// asked for it (`RunOptions::link_spans`).
    pub link_spans: Option<crate::link_spans::LinkSpans>,
    /// Wall-clock seconds spent in the cycle loop. Not part of the
    /// deterministic result (excluded from comparisons).
    pub wall_seconds: f64,
    /// The per-message columns are here (false: the run was asked not to
    /// keep them, `RunOptions::keep_messages`, and they are empty).
    pub messages_kept: bool,
}

impl RunResult {
    /// Empties the per-message columns when `keep` is false (the options'
    /// `keep_messages`), freeing their memory.
    pub fn keep_messages(&mut self, keep: bool) {
        if !keep {
            self.send_ps = Vec::new();
            self.deliver_ps = Vec::new();
            self.deliver_order = Vec::new();
            self.corrupt = Vec::new();
            self.messages_kept = false;
        }
    }

    /// Equality of everything simulated (all but wall time).
    pub fn same_simulation(&self, other: &RunResult) -> bool {
        let mut a = self.clone();
        a.wall_seconds = other.wall_seconds;
        a == *other
    }
}
