//! The run loop: advances a model cycle by cycle, skips idle stretches,
//! enforces limits and reports deadlock. Independent of what the model is.
//!
//! ```text
//!            +----------------------- busy? -------------------------+
//!            v                                                       |
//!   step(c) --> check invariants --> done? --> next cycle = c + 1 ----+
//!                                        \--> idle: next = next_event(), idle
//!                                             cycles accounted in one call;
//!                                             none and work left: deadlock
//! ```
//!
//! Switching by activity: while anything is busy the loop ticks the next
//! cycle without consulting any queue (cheap under load); when everything is
//! idle it jumps to the model's next event (huge win at light load).
//! `EngineMode::TickAll` steps every cycle instead; both give identical results.

use crate::error::{Error, Result, WaitingChannel};
use crate::link_samples::SampledLinks;
use crate::run_hook::{Poller, Progress, POLL_EVERY};
use crate::spec::{EngineMode, RunOptions};
use crate::time::Cycle;

/// What one step did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Activity {
    /// The model needs cycle `c + 1` stepped (something can move then without
    /// a new arrival).
    pub busy: bool,
    /// Something moved this cycle (for the watchdog).
    pub progressed: bool,
}

/// A cycle-level model the engine can drive.
///
/// Contract:
/// - `step(c)` is called with strictly increasing `c`; between two calls at
///   `a` and `b > a + 1`, `account_idle(a + 1, b)` is called first, and must
///   leave the model exactly as stepping each skipped cycle would.
/// - Cycles are skipped only when the last step was not busy and before
///   `next_event()`, so a skipped cycle never has anything to do.
/// - `next_event()` is the earliest future cycle at which something is
///   scheduled (an arrival, an injection), `None` if nothing is.
pub trait Model {
    fn step(&mut self, c: Cycle) -> Result<Activity>;
    fn account_idle(&mut self, from: Cycle, to: Cycle);
    fn next_event(&self) -> Option<Cycle>;
    /// All work is finished (every message delivered).
    fn done(&self) -> bool;
    /// Some admitted work is unfinished (what the watchdog guards).
    fn work_in_system(&self) -> bool;
    /// The shortest no-progress stretch that can be legal (e.g. a credit round
    /// trip); the watchdog never fires before it.
    fn min_watchdog_cycles(&self) -> u64;
    fn check_invariants(&self, c: Cycle) -> Result<()>;
    /// Who waits on what, for a deadlock report.
    fn waiting(&self) -> Vec<WaitingChannel>;
    /// Work finished and known so far (messages, operations, requests), for
    /// a progress report.
    fn progress(&self) -> (u64, u64);
    /// Some channels wait on each other in a cycle (each full, each waiting
    /// for the next): with nothing moving, proof of a deadlock however long
    /// the watchdog is. Models without routers have no such cycle.
    fn cyclic_wait(&self) -> bool {
        false
    }
    /// The links `RunOptions::link_samples` reads during the run (None:
    /// the model has none).
    fn sampled_links(&mut self) -> Option<&mut dyn SampledLinks> {
        None
    }
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// All work done; `last` is the cycle of the final step.
    Done { last: Cycle },
    /// Work remains and nothing can move (`why`), found at cycle `cycle`
    /// (the last cycle stepped).
    Deadlock {
        cycle: Cycle,
        why: Stall,
        last_progress: Cycle,
    },
    /// `limit` was reached before the work finished: cycles `0..limit` ran.
    Limit { limit: Cycle },
    /// The run hook asked to stop (Ctrl-C): cycles `0..cycle` ran.
    Interrupted { cycle: Cycle },
}

/// How a deadlock was recognized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// No event can ever occur again.
    Quiescent,
    /// Nothing moved for the watchdog's stretch.
    Watchdog,
    /// A run limit came while nothing moved for longer than any legal stall
    /// and channels waited on each other in a cycle.
    CyclicWaitAtLimit,
}

/// Drives `model` from cycle 0 until it is done, deadlocks, or reaches
/// `limit` (the first cycle not to simulate).
pub fn drive<M: Model>(model: &mut M, opts: &RunOptions, limit: Cycle) -> Result<Stop> {
    let mut driver = Driver::new(model, opts);
    Ok(driver
        .advance(model, opts, limit, None)?
        .expect("a run without an end cycle stops only on done, deadlock or limit"))
}

/// The cycle loop as a resumable state, so a run can be advanced in steps
/// (`Simulation::step`) and still be exactly the loop `drive` runs.
#[derive(Clone, Debug)]
pub struct Driver {
    /// The next cycle to simulate.
    c: Cycle,
    last_progress: Cycle,
    watchdog: u64,
}

impl Driver {
    /// A loop at cycle 0 for `model` (which starts the link samples the
    /// options ask for).
    pub fn new<M: Model>(model: &mut M, opts: &RunOptions) -> Self {
        if let Some(links) = model.sampled_links() {
            if opts.link_samples > 0 {
                links.start_link_samples(opts.link_samples as usize);
            }
            if opts.link_spans > 0 {
                links.start_link_spans(opts.link_spans as usize);
            }
        }
        Self {
            c: 0,
            last_progress: 0,
            watchdog: opts.watchdog_cycles.max(model.min_watchdog_cycles()),
        }
    }

    /// The next cycle to simulate (cycles before it are done).
    pub fn cycle(&self) -> Cycle {
        self.c
    }

    /// Simulates cycles until `until` (exclusive) when given, else until all
    /// work is done. Returns the stop, or `None` when `until` was reached
    /// first. With `until`, finishing all work does not stop the loop (more
    /// may be injected); deadlocks and limits stop it either way.
    pub fn advance<M: Model>(
        &mut self,
        model: &mut M,
        opts: &RunOptions,
        limit: Cycle,
        until: Option<Cycle>,
    ) -> Result<Option<Stop>> {
        // Polls for Ctrl-C and progress ride on the limit check: the loop
        // compares the cycle with `stop_at`, the limit or the next poll point
        // when that comes first, so a poll adds nothing to a busy turn (the
        // cheapest turns cost ~20 ns: a counter per turn measured 5-8%). Idle
        // jumps push the poll point back by their length and count down
        // `jumps`, so long jumps do not read the wall clock every turn.
        // (The poll state lives in `polls`, touched only out of line: kept
        // in the loop's registers it cost the cheapest loop 4%, measured.)
        let sample_at = model
            .sampled_links()
            .map_or(Cycle::MAX, |l| l.next_link_sample());
        let mut polls = Polls::new(self.c, limit, sample_at);
        let mut stop_at = polls.stop_at();
        loop {
            if until.is_some_and(|u| self.c >= u) {
                return Ok(None);
            }
            if self.c >= stop_at {
                if let Some(stop) = self.poll_point(model, &mut polls) {
                    return Ok(Some(stop));
                }
                stop_at = polls.stop_at();
            }
            let c = self.c;
            let act = model.step(c)?;
            if opts.check_invariants {
                model.check_invariants(c)?;
            }
            if act.progressed || !model.work_in_system() {
                self.last_progress = c;
            }
            if until.is_none() && model.done() {
                self.c = c + 1;
                return Ok(Some(Stop::Done { last: c }));
            }
            if c - self.last_progress >= self.watchdog {
                return Ok(Some(Stop::Deadlock {
                    cycle: c,
                    why: Stall::Watchdog,
                    last_progress: self.last_progress,
                }));
            }
            let mut next = c + 1;
            if !act.busy {
                let event = model.next_event();
                if event.is_none() && model.work_in_system() {
                    return Ok(Some(Stop::Deadlock {
                        cycle: c,
                        why: Stall::Quiescent,
                        last_progress: self.last_progress,
                    }));
                }
                if opts.engine == EngineMode::Auto {
                    // Jump, but not past the limit, the end of this advance or
                    // the watchdog's deadline, so that each fires at the cycle
                    // tick-all would see.
                    let mut target = event.unwrap_or(Cycle::MAX).max(c + 1).min(limit);
                    if let Some(u) = until {
                        target = target.min(u);
                    }
                    if model.work_in_system() {
                        target = target.min(self.last_progress + self.watchdog);
                    }
                    next = target.max(c + 1);
                }
            }
            if next > c + 1 {
                model.account_idle(c + 1, next);
                stop_at = polls.jumped(c, next);
            }
            self.c = next;
        }
    }

    /// At a poll point (or the limit): the stop, if the run must stop.
    #[cold]
    #[inline(never)]
    fn poll_point<M: Model>(&self, model: &mut M, polls: &mut Polls) -> Option<Stop> {
        // (a sample point skipped by an idle jump reads the same counters
        // as at the jump's end: nothing moved in between)
        while polls.sample_at <= self.c.min(polls.limit) {
            let Some(links) = model.sampled_links() else {
                break;
            };
            links.link_sample(polls.sample_at);
            polls.sample_at = links.next_link_sample();
        }
        if self.c >= polls.limit {
            return Some(self.at_limit(model, polls.limit));
        }
        if self.c < polls.check_at {
            return None; // a sample point only
        }
        let c = self.c;
        if !polls.poller.look(|| progress(model, c)) {
            return Some(Stop::Interrupted { cycle: c });
        }
        polls.check_at = c.saturating_add(POLL_EVERY);
        polls.jumps = POLL_EVERY;
        None
    }

    /// The stop at `limit`: a deadlock when nothing has moved for longer than
    /// any legal stall and the blocked channels wait on each other in a
    /// cycle (a limit must not hide a deadlock: a saturated network moves
    /// flits every cycle, a deadlocked one none), else the limit.
    fn at_limit<M: Model>(&self, model: &M, limit: Cycle) -> Stop {
        let stalled = limit.saturating_sub(self.last_progress + 1);
        if model.work_in_system() && stalled >= model.min_watchdog_cycles() && model.cyclic_wait() {
            return Stop::Deadlock {
                cycle: limit - 1,
                why: Stall::CyclicWaitAtLimit,
                last_progress: self.last_progress,
            };
        }
        Stop::Limit { limit }
    }
}

/// Where the loop next looks up from stepping: the run limit, the next
/// poll point for Ctrl-C and progress, or the next link sample, whichever
/// comes first.
struct Polls {
    poller: Poller,
    limit: Cycle,
    /// The next link sample (`Cycle::MAX` without samples).
    sample_at: Cycle,
    /// The next poll point (`Cycle::MAX` without a hook).
    check_at: Cycle,
    /// Idle jumps left before a poll point is forced.
    jumps: u64,
}

impl Polls {
    fn new(c: Cycle, limit: Cycle, sample_at: Cycle) -> Self {
        let poller = Poller::new();
        Self {
            check_at: poller.first_check(c),
            poller,
            limit,
            sample_at,
            jumps: POLL_EVERY,
        }
    }

    fn stop_at(&self) -> Cycle {
        self.limit.min(self.check_at).min(self.sample_at)
    }

    /// After an idle jump from `c` to `next`: idle cycles do not count
    /// toward the next poll point (which moves back by the jump), jumps do.
    #[inline(never)]
    fn jumped(&mut self, c: Cycle, next: Cycle) -> Cycle {
        if self.check_at != Cycle::MAX {
            self.jumps -= 1;
            self.check_at = if self.jumps == 0 {
                next
            } else {
                self.check_at.saturating_add(next - c - 1)
            };
        }
        self.stop_at()
    }
}

fn progress<M: Model>(model: &M, cycle: Cycle) -> Progress {
    let (done, total) = model.progress();
    Progress { cycle, done, total }
}

/// Turns a deadlock stop into its error text.
pub fn deadlock_message(stop: &Stop, waiting: &[WaitingChannel], undelivered: usize) -> String {
    let Stop::Deadlock {
        cycle,
        why,
        last_progress,
    } = stop
    else {
        return String::new();
    };
    let why = match why {
        Stall::Quiescent => format!("no event can ever occur again after cycle {cycle}"),
        Stall::Watchdog => {
            format!("nothing moved from cycle {last_progress} to cycle {cycle} (watchdog)")
        }
        Stall::CyclicWaitAtLimit => format!(
            "nothing moved from cycle {last_progress} to the run limit at cycle {} while channels wait on each other in a cycle",
            cycle + 1
        ),
    };
    let mut s = format!("deadlock: {why}, and {undelivered} message(s) are undelivered.");
    if waiting.is_empty() {
        s.push_str(
            " No channel waits for anything: the undelivered messages were lost in the link layer (a flit dropped with retry = \"none\", or a sequence-number alias).",
        );
    } else {
        s.push_str(" Waiting:");
        for w in waiting {
            s.push_str(&format!(
                "\n  node {} port {} VC {}: {}",
                w.node, w.port, w.vc, w.reason
            ));
        }
    }
    s
}

/// Builds the error for a limit stop.
pub fn limit_error(message: String, partial: crate::result::RunResult) -> Error {
    Error::Limit {
        message,
        partial: Box::new(partial),
    }
}
