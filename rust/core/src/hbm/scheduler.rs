//! Scheduling policies: which queued request a pseudo-channel serves next.
//!
//! The controller scans its active queue oldest first and offers every
//! request's next command (ACT, PRE, RD or WR) to the policy; the policy
//! says which requests may be served now. Static dispatch: one small enum,
//! so adding a policy is one arm here, not a virtual call per command.

use crate::spec::memory::SchedulerKind;

/// What the scan knows about a request's bank when the policy is asked.
#[derive(Clone, Copy, Debug)]
pub struct BankView {
    /// An older request to this bank was seen earlier in the scan.
    pub older_seen: bool,
    /// Some request of the active queue hits the bank's open row. (Hits of
    /// the other queue do not count: blocking on a request that is not being
    /// served could wait forever.)
    pub hit_pending: bool,
    /// Some request of the active queue wants another row of this bank.
    pub conflict_pending: bool,
    /// Column accesses served from the open row since it opened.
    pub hits_served: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    kind: SchedulerKind,
    cap: u32,
}

impl Policy {
    pub fn new(kind: SchedulerKind, cap: u32) -> Self {
        Self { kind, cap }
    }

    /// Serves each bank's requests in arrival order (needs `older_seen`).
    pub fn in_order(&self) -> bool {
        self.kind == SchedulerKind::Fcfs
    }

    /// May a request that hits the open row issue its RD/WR now?
    #[inline]
    pub fn may_hit(&self, v: BankView) -> bool {
        match self.kind {
            // In order per bank: only the bank's oldest request.
            SchedulerKind::Fcfs => !v.older_seen,
            // Hits first, unless the row has served its cap while another
            // row waits: then the conflict's PRE goes first.
            SchedulerKind::Frfcfs => !(v.conflict_pending && v.hits_served >= self.cap),
        }
    }

    /// May a request for another row close the bank's open row now?
    #[inline]
    pub fn may_close(&self, v: BankView) -> bool {
        match self.kind {
            SchedulerKind::Fcfs => !v.older_seen,
            SchedulerKind::Frfcfs => !v.hit_pending || v.hits_served >= self.cap,
        }
    }

    /// May a request to a closed bank open its row now? (FCFS: the bank's
    /// oldest request only; FR-FCFS: the oldest ready, which the scan finds first.)
    #[inline]
    pub fn may_open(&self, v: BankView) -> bool {
        match self.kind {
            SchedulerKind::Fcfs => !v.older_seen,
            SchedulerKind::Frfcfs => true,
        }
    }
}
