//! Simulated time: integer picoseconds, and clock domains with a rational period.
//!
//! Global time is a `u64` count of picoseconds, never a float. A component
//! belongs to a [`ClockDomain`] and sees its own cycle numbers. Periods are
//! rational (`num / den` ps) because real clocks are not whole picoseconds: a
//! 68 B flit at 512 Gb/s lasts 1062.5 ps and an HBM3 CK is 312.5 ps at some
//! rates. Cycle `c` of a domain starts at `floor(c * num / den)` ps, so time
//! never drifts however long a run is.

/// A point in simulated time, in picoseconds.
pub type Ps = u64;
/// A cycle number within one clock domain.
pub type Cycle = u64;

/// A clock with period `num / den` picoseconds (fraction kept in lowest terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockDomain {
    num: u64,
    den: u64,
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl ClockDomain {
    /// A clock whose period is `num / den` ps. `None` unless `den > 0` and the
    /// period is at least 1 ps (shorter periods would map two cycles to one ps).
    pub fn from_ratio(num: u64, den: u64) -> Option<Self> {
        if den == 0 || num < den {
            return None;
        }
        let g = gcd(num, den);
        Some(Self {
            num: num / g,
            den: den / g,
        })
    }

    /// A clock with a whole number of picoseconds per cycle.
    pub fn from_period_ps(period_ps: u64) -> Option<Self> {
        Self::from_ratio(period_ps, 1)
    }

    /// The period as an exact fraction `(num, den)` of picoseconds.
    pub fn ratio(&self) -> (u64, u64) {
        (self.num, self.den)
    }

    /// The period in ps as a float, for reports only (never for timing).
    pub fn period_ps_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// The time at which cycle `c` starts. Saturates at `u64::MAX`.
    pub fn start_ps(&self, c: Cycle) -> Ps {
        let t = c as u128 * self.num as u128 / self.den as u128;
        u64::try_from(t).unwrap_or(u64::MAX)
    }

    /// The first cycle that starts at or after time `t`.
    pub fn cycle_at_or_after(&self, t: Ps) -> Cycle {
        self.cycles_ceil(t)
    }

    /// The number of whole cycles needed to cover `duration_ps` (rounded up).
    pub fn cycles_ceil(&self, duration_ps: u64) -> u64 {
        let n = duration_ps as u128 * self.den as u128;
        let c = n.div_ceil(self.num as u128);
        u64::try_from(c).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_period_cycles_start_at_multiples() {
        let clk = ClockDomain::from_period_ps(2000).unwrap();
        assert_eq!(clk.start_ps(0), 0);
        assert_eq!(clk.start_ps(3), 6000);
        assert_eq!(clk.cycle_at_or_after(0), 0);
        assert_eq!(clk.cycle_at_or_after(1), 1);
        assert_eq!(clk.cycle_at_or_after(2000), 1);
        assert_eq!(clk.cycle_at_or_after(2001), 2);
    }

    #[test]
    fn fractional_period_does_not_drift() {
        // 68 B flit at 512 Gb/s: 544 bits / 0.512 bits/ps = 1062.5 ps.
        let clk = ClockDomain::from_ratio(2125, 2).unwrap();
        assert_eq!(clk.start_ps(1), 1062);
        assert_eq!(clk.start_ps(2), 2125);
        assert_eq!(clk.start_ps(2_000_000), 2_125_000_000);
        for t in [0u64, 1, 1062, 1063, 2125, 2126, 99_999] {
            let c = clk.cycle_at_or_after(t);
            assert!(clk.start_ps(c) >= t);
            assert!(c == 0 || clk.start_ps(c - 1) < t);
        }
    }

    #[test]
    fn ratio_is_reduced_and_sub_ps_periods_are_rejected() {
        assert_eq!(ClockDomain::from_ratio(4000, 2).unwrap().ratio(), (2000, 1));
        assert!(ClockDomain::from_ratio(1, 2).is_none());
        assert!(ClockDomain::from_ratio(5, 0).is_none());
    }

    #[test]
    fn cycles_ceil_rounds_up() {
        let clk = ClockDomain::from_period_ps(2000).unwrap();
        assert_eq!(clk.cycles_ceil(0), 0);
        assert_eq!(clk.cycles_ceil(1), 1);
        assert_eq!(clk.cycles_ceil(4000), 2);
        assert_eq!(clk.cycles_ceil(4001), 3);
    }
}
