//! A requester: a load/store unit with a bounded number of tags, issuing
//! from a pattern or a trace whenever a tag is free (or at most one request
//! per issue interval). A DMA engine is the same thing with a stream of
//! MTU-sized requests.

use super::address::AddressMap;
use crate::rng::Rng;
use crate::spec::memfabric::{AddressPattern, RequesterSpec, Target};
use crate::time::{ClockDomain, Cycle, Ps};

/// Random-stream kind of requesters (see `Rng::for_component`).
const RNG_KIND_REQUESTER: u64 = 7;

/// One request to issue: the device, the address within it, its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub device: u32,
    pub addr: u64,
    pub write: bool,
}

pub struct Requester {
    pub endpoint: u32,
    target: Target,
    pattern: AddressPattern,
    read_ratio: f64,
    pub bytes: u32,
    base: u64,
    limit: u32,
    total: u64,
    issued: u64,
    pub in_flight: u32,
    /// First cycle it may issue; least time between issues, and the
    /// earliest time of the next.
    start: Cycle,
    gap_ps: Ps,
    next_ok_ps: Ps,
    rng: Rng,
    addresses: Vec<u64>,
    writes: Vec<bool>,
    /// Time-integral of `in_flight` (request x ps), and when it last changed:
    /// the measured mean occupancy, kept apart from the per-request times so
    /// that Little's law checks one against the other.
    occupancy_area: u128,
    /// Time (ps) spent with each number of requests in flight, `0..=outstanding`.
    pub occupancy_time: Vec<u64>,
    changed_ps: Ps,
    first_issue_ps: Option<Ps>,
}

impl Requester {
    pub fn new(
        index: usize,
        spec: &RequesterSpec,
        target: Target,
        start: Cycle,
        seed: u64,
    ) -> Self {
        Self {
            endpoint: spec.endpoint,
            target,
            pattern: spec.pattern,
            read_ratio: spec.read_ratio,
            bytes: spec.bytes,
            base: spec.base,
            limit: spec.outstanding,
            total: spec.count(),
            issued: 0,
            in_flight: 0,
            start,
            gap_ps: crate::spec::link::ns_to_ps(spec.issue_interval_ns),
            next_ok_ps: 0,
            rng: Rng::for_component(seed, RNG_KIND_REQUESTER, index as u64),
            addresses: spec.addresses.clone(),
            writes: spec.writes.clone(),
            occupancy_area: 0,
            occupancy_time: vec![0; spec.outstanding as usize + 1],
            changed_ps: 0,
            first_issue_ps: None,
        }
    }

    /// Whether it can issue at cycle `c` starting at `t` (a free tag,
    /// requests left, started, the issue interval passed).
    #[inline]
    pub fn can_issue(&self, c: Cycle, t: Ps) -> bool {
        c >= self.start
            && t >= self.next_ok_ps
            && self.in_flight < self.limit
            && self.issued < self.total
    }

    /// The next cycle of `clock` it could issue at if nothing completes first.
    pub fn next_issue(&self, clock: &ClockDomain) -> Option<Cycle> {
        (self.in_flight < self.limit && self.issued < self.total)
            .then(|| self.start.max(clock.cycle_at_or_after(self.next_ok_ps)))
    }

    pub fn total_requests(&self) -> u64 {
        self.total
    }

    /// Issues the next request at time `t` (the caller checked `can_issue`).
    pub fn issue(&mut self, t: Ps, map: &AddressMap) -> Access {
        let i = self.issued;
        self.issued += 1;
        self.next_ok_ps = t + self.gap_ps;
        self.note(t);
        self.in_flight += 1;
        self.first_issue_ps.get_or_insert(t);
        let (space, bytes) = (map.space(self.target, self.endpoint), self.bytes as u64);
        let slots = (space / bytes).max(1);
        let addr = if let Some(&a) = self.addresses.get(i as usize) {
            a
        } else {
            match self.pattern {
                AddressPattern::Random => self.rng.below(slots) * bytes,
                AddressPattern::Stream => (self.base + i * bytes) % (slots * bytes),
            }
        };
        let write = if !self.writes.is_empty() {
            self.writes[i as usize]
        } else if !self.addresses.is_empty() || self.read_ratio >= 1.0 {
            false
        } else if self.read_ratio <= 0.0 {
            true
        } else {
            self.rng.next_f64() >= self.read_ratio
        };
        let (device, addr) = map.locate(self.target, self.endpoint, addr);
        Access {
            device,
            addr,
            write,
        }
    }

    /// A request completed at time `t`: its tag is free.
    pub fn complete(&mut self, t: Ps) {
        self.note(t);
        self.in_flight -= 1;
    }

    fn note(&mut self, t: Ps) {
        let dt = t - self.changed_ps;
        self.occupancy_area += self.in_flight as u128 * dt as u128;
        if self.first_issue_ps.is_some() {
            self.occupancy_time[self.in_flight as usize] += dt;
        }
        self.changed_ps = t;
    }

    /// Mean requests in flight between its first issue and its last completion.
    pub fn mean_occupancy(&self) -> f64 {
        match self.first_issue_ps {
            Some(t0) if self.changed_ps > t0 => {
                self.occupancy_area as f64 / (self.changed_ps - t0) as f64
            }
            _ => 0.0,
        }
    }
}
