//! The noisy channel of one link direction: what happens to each flit sent.

use crate::rng::Rng;
use crate::spec::reliability::{OutcomeThresholds, ReliabilityParams};

/// The fate of one transmitted flit at the receiver's FEC and CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    /// Errors that FEC corrected: delivered good.
    Corrected,
    /// Errors the CRC caught: the receiver drops the flit.
    Detected,
    /// Errors the CRC missed: delivered, but corrupt (counted and reported).
    Undetected,
}

/// Bit errors with optional Gilbert-Elliott bursts, drawn from the link
/// direction's own random stream. With a BER of 0 and no bursts it never
/// draws, so error-free runs do not depend on the seed at all.
#[derive(Clone, Debug)]
pub struct Channel {
    normal: Option<OutcomeThresholds>,
    burst: Option<(f64, f64, OutcomeThresholds)>,
    in_burst: bool,
    rng: Rng,
}

impl Channel {
    pub fn new(p: &ReliabilityParams, rng: Rng) -> Self {
        Self {
            normal: p.normal,
            burst: p.burst,
            in_burst: false,
            rng,
        }
    }

    /// Draws the fate of the next flit sent.
    #[inline]
    pub fn sample(&mut self) -> Outcome {
        if let Some((enter, exit, inside)) = self.burst {
            let u = self.rng.next_f64();
            self.in_burst = if self.in_burst { u >= exit } else { u < enter };
            if self.in_burst {
                return draw(&inside, &mut self.rng);
            }
        }
        match self.normal {
            Some(t) => draw(&t, &mut self.rng),
            None => Outcome::Clean,
        }
    }
}

#[inline]
fn draw(t: &OutcomeThresholds, rng: &mut Rng) -> Outcome {
    let u = rng.next_f64();
    if u < t.detected {
        Outcome::Detected
    } else if u < t.undetected {
        Outcome::Undetected
    } else if u < t.corrected {
        Outcome::Corrected
    } else {
        Outcome::Clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::LinkSpec;

    fn params(ber: f64, burst: Option<(f64, f64, f64)>) -> ReliabilityParams {
        let mut s = LinkSpec::with_defaults(1, 64.0, 256, 256, 8);
        s.ber = ber;
        s.burst = burst.map(|(start_prob, mean_flits, ber)| crate::spec::BurstSpec {
            start_prob,
            mean_flits,
            ber,
        });
        s.resolve().unwrap().reliability
    }

    #[test]
    fn error_rate_matches_the_probability() {
        let p = params(1e-4, None);
        let expected = p.normal.unwrap().undetected; // detected + undetected
        let mut ch = Channel::new(&p, Rng::for_component(1, 2, 3));
        let n = 200_000;
        let bad = (0..n)
            .filter(|_| matches!(ch.sample(), Outcome::Detected | Outcome::Undetected))
            .count();
        let rate = bad as f64 / n as f64;
        assert!(
            (rate - expected).abs() / expected < 0.05,
            "{rate} vs {expected}"
        );
    }

    #[test]
    fn bursts_cluster_errors() {
        // Errors only inside bursts: 1% of flits start one, 10 flits long, all bad.
        let p = params(0.0, Some((0.01, 10.0, 0.5)));
        let mut ch = Channel::new(&p, Rng::for_component(9, 0, 0));
        let bad: Vec<bool> = (0..100_000)
            .map(|_| ch.sample() != Outcome::Clean)
            .collect();
        let rate = bad.iter().filter(|&&b| b).count() as f64 / bad.len() as f64;
        // Fraction of time in bursts: enter / (enter + exit) = 0.01 / 0.11.
        assert!((rate - 0.01 / 0.11).abs() < 0.02, "{rate}");
        let runs = bad.windows(2).filter(|w| !w[0] && w[1]).count();
        let mean_run = bad.iter().filter(|&&b| b).count() as f64 / runs as f64;
        assert!((mean_run - 10.0).abs() < 1.5, "{mean_run}");
    }

    #[test]
    fn an_error_free_channel_never_draws() {
        let mut ch = Channel::new(&params(0.0, None), Rng::for_component(0, 0, 0));
        assert!((0..1000).all(|_| ch.sample() == Outcome::Clean));
    }
}
