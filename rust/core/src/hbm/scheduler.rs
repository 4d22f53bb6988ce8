//! Scheduling policies: which queued request a pseudo-channel serves next.
//!
//! The controller looks at each bank with queued requests and offers the
//! policy the bank's candidates: its oldest row hit (a RD or WR), its oldest
//! request for another row (a PRE), or, for a closed bank, its oldest request
//! (an ACT). The policy says which of them may issue; the controller then
//! takes the oldest ready one per command bus.
//!
//! A policy is a `Scheduler` (a small trait); `Policy` is the closed set the
//! controller dispatches over without a virtual call per command. Adding
//! one is a struct, its `Scheduler` impl, and an arm in `Policy`.

use crate::spec::memory::SchedulerKind;

/// What the controller knows about a request's bank when it asks the policy.
#[derive(Clone, Copy, Debug)]
pub struct BankView {
    /// Some request of the active queue hits the bank's open row. (Hits of
    /// the other queue do not count: blocking on a request that is not being
    /// served could wait forever.)
    pub hit_pending: bool,
    /// Some request of the active queue wants another row of this bank.
    pub conflict_pending: bool,
    /// Column accesses served from the open row since it opened.
    pub hits_served: u32,
}

pub trait Scheduler {
    /// Serve each bank's requests strictly in arrival order: only the
    /// bank's oldest request is a candidate.
    fn in_order(&self) -> bool;
    /// May the bank's oldest row hit issue its RD/WR now?
    fn may_hit(&self, v: BankView) -> bool;
    /// May the bank's oldest request for another row close the open row now?
    fn may_close(&self, v: BankView) -> bool;
}

/// First come, first served per bank (banks still work in parallel).
#[derive(Clone, Copy, Debug)]
pub struct Fcfs;

impl Scheduler for Fcfs {
    fn in_order(&self) -> bool {
        true
    }
    fn may_hit(&self, _: BankView) -> bool {
        true
    }
    fn may_close(&self, _: BankView) -> bool {
        true
    }
}

/// First-ready FCFS with a starvation cap (Rixner et al., ISCA 2000; the cap
/// after Mutlu and Moscibroda, MICRO 2007): row hits first, and a row with
/// queued hits stays open, until `cap` hits were served from it while
/// another row of the bank waits.
#[derive(Clone, Copy, Debug)]
pub struct FrFcfs {
    pub cap: u32,
}

impl Scheduler for FrFcfs {
    fn in_order(&self) -> bool {
        false
    }
    fn may_hit(&self, v: BankView) -> bool {
        !(v.conflict_pending && v.hits_served >= self.cap)
    }
    fn may_close(&self, v: BankView) -> bool {
        !v.hit_pending || v.hits_served >= self.cap
    }
}

/// The policies a controller can run.
#[derive(Clone, Copy, Debug)]
pub enum Policy {
    Fcfs(Fcfs),
    FrFcfs(FrFcfs),
}

impl Policy {
    pub fn new(kind: SchedulerKind, cap: u32) -> Self {
        match kind {
            SchedulerKind::Fcfs => Policy::Fcfs(Fcfs),
            SchedulerKind::Frfcfs => Policy::FrFcfs(FrFcfs { cap }),
        }
    }
}

impl Scheduler for Policy {
    #[inline]
    fn in_order(&self) -> bool {
        match self {
            Policy::Fcfs(p) => p.in_order(),
            Policy::FrFcfs(p) => p.in_order(),
        }
    }
    #[inline]
    fn may_hit(&self, v: BankView) -> bool {
        match self {
            Policy::Fcfs(p) => p.may_hit(v),
            Policy::FrFcfs(p) => p.may_hit(v),
        }
    }
    #[inline]
    fn may_close(&self, v: BankView) -> bool {
        match self {
            Policy::Fcfs(p) => p.may_close(v),
            Policy::FrFcfs(p) => p.may_close(v),
        }
    }
}
