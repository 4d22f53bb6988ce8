//! Link counters read at evenly spaced times during a run: each link
//! direction's flits carried by then, so that a timeline can draw its
//! utilization per interval rather than its mean over the run.
//!
//! ```text
//!  interval i, 2i, 3i, ... record every link's cumulative flits
//!  full (max samples)?  keep 2i, 4i, ... and double i
//!  end of run           one last sample at the end
//! ```
//!
//! The run's length is not known in advance, so the sampler starts fine and
//! halves its resolution whenever it is full: it ends with between half of
//! `max` and `max` samples (plus the last), evenly spaced, whatever the run's
//! length, in memory `max x links`. The counters are cumulative, so dropping
//! every other sample loses nothing at the coarser spacing. Times are in the
//! caller's unit (cycles in the cycle engine, ps at flow fidelity).

/// A model whose links can be sampled while the engine drives it.
pub trait SampledLinks {
    /// Starts reading the link counters about `samples` times over the run.
    fn start_link_samples(&mut self, samples: usize);
    /// When the next sample is due (`u64::MAX`: none).
    fn next_link_sample(&self) -> u64;
    /// Reads the counters as sample `at` (everything before `at` is
    /// simulated, nothing after).
    fn link_sample(&mut self, at: u64);
    /// Starts recording when each message crosses each link, up to `max`
    /// records (`crate::link_spans`).
    fn start_link_spans(&mut self, max: usize);
}

/// What a run returns: times (ps) and, per time, every link direction's
/// flits carried by then (row-major, `times.len() x links`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSamples {
    pub times_ps: Vec<u64>,
    pub flits: Vec<u64>,
}

#[derive(Clone, Debug)]
pub struct LinkSampler {
    links: usize,
    max: usize,
    interval: u64,
    next: u64,
    times: Vec<u64>,
    flits: Vec<u64>,
}

impl LinkSampler {
    /// At most `max` (>= 2) samples of `links` counters, the first after
    /// `first_interval` (>= 1).
    pub fn new(max: usize, links: usize, first_interval: u64) -> Self {
        let interval = first_interval.max(1);
        Self {
            links,
            max: max.max(2),
            interval,
            next: interval,
            times: Vec::new(),
            flits: Vec::new(),
        }
    }

    /// When the next sample is due.
    pub fn next_at(&self) -> u64 {
        self.next
    }

    /// Records the counters as they are at `at` (the due time: the caller
    /// has simulated everything before it and nothing after).
    pub fn record(&mut self, at: u64, counters: impl IntoIterator<Item = u64>) {
        self.times.push(at);
        let before = self.flits.len();
        self.flits.extend(counters);
        debug_assert_eq!(self.flits.len() - before, self.links);
        if self.times.len() >= self.max {
            self.halve();
        }
        self.next = self
            .times
            .last()
            .map_or(self.interval, |&t| t + self.interval);
    }

    /// Keeps every other sample (the 2nd, 4th, ...: multiples of twice the
    /// interval) and doubles the interval.
    fn halve(&mut self) {
        let n = self.links;
        let kept = self.times.len() / 2;
        for k in 0..kept {
            let from = 2 * k + 1;
            self.times[k] = self.times[from];
            self.flits.copy_within(from * n..(from + 1) * n, k * n);
        }
        self.times.truncate(kept);
        self.flits.truncate(kept * n);
        self.interval *= 2;
    }

    /// The samples with a last one at `end` (unless one is there already),
    /// times converted to ps by `to_ps`.
    pub fn finish(
        &self,
        end: u64,
        counters: impl IntoIterator<Item = u64>,
        to_ps: impl Fn(u64) -> u64,
    ) -> LinkSamples {
        let mut times = self.times.clone();
        let mut flits = self.flits.clone();
        if times.last().is_none_or(|&t| t < end) {
            times.push(end);
            flits.extend(counters);
        }
        LinkSamples {
            times_ps: times.into_iter().map(to_ps).collect(),
            flits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_sampler_keeps_every_other_sample_at_twice_the_interval() {
        // one link carrying one flit per time unit: its counter is the time
        let mut s = LinkSampler::new(4, 1, 10);
        while s.next_at() <= 100 {
            let at = s.next_at();
            s.record(at, [at]);
        }
        // 10, 20, 30, 40 -> full: 20, 40 at 20; 60, 80 -> full: 40, 80 at 40
        // (then 120 is past 100)
        assert_eq!(s.times, vec![40, 80]);
        assert_eq!(s.flits, vec![40, 80]);
        let out = s.finish(100, [100], |t| t * 2);
        assert_eq!(out.times_ps, vec![80, 160, 200]);
        assert_eq!(out.flits, vec![40, 80, 100]);
        // evenly spaced but for the last
        assert!(out.times_ps.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn the_counts_stay_between_half_and_all_of_the_maximum() {
        for end in [1u64, 7, 100, 12_345] {
            let mut s = LinkSampler::new(16, 2, 1);
            while s.next_at() <= end {
                let at = s.next_at();
                s.record(at, [at, 2 * at]);
            }
            let out = s.finish(end, [end, 2 * end], |t| t);
            assert!(out.times_ps.len() <= 17, "{end}: {}", out.times_ps.len());
            assert!(end < 16 || out.times_ps.len() >= 8);
            assert_eq!(out.flits.len(), 2 * out.times_ps.len());
            // the cumulative counters never go down
            for link in 0..2 {
                let col: Vec<u64> = out.flits.iter().skip(link).step_by(2).copied().collect();
                assert!(col.windows(2).all(|w| w[1] >= w[0]));
            }
        }
    }
}
