//! The run's line to whoever started it: while a run goes on, the engine
//! reports its progress and asks whether to stop, a few times a second.
//!
//! ```text
//!   caller: with_hook(hook, || run_anything(...))
//!                                   |
//!   engine::Driver::advance -- every POLL_EVERY loop turns, if POLL_INTERVAL
//!   of wall time passed --> hook(Progress) --> false: stop with Interrupted
//! ```
//!
//! The hook is thread-local, so every run function (messages, collectives,
//! memory, the memory fabric) picks it up without a parameter of its own,
//! and runs on other threads (a sweep's workers) have their own or none.
//! The core does not know who installs it: the Python bindings check for
//! Ctrl-C and call a progress callback there.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// What a run has done so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The next cycle to simulate, of the model's clock.
    pub cycle: u64,
    /// Units of work finished (messages delivered, operations done, requests
    /// served: the model's own count) ...
    pub done: u64,
    /// ... out of this many known so far.
    pub total: u64,
}

/// Loop turns between two poll points (reads of the wall clock): a read
/// costs about one turn of the cheapest loop, so this keeps polling far
/// under 1% (measured in BENCHMARKS.md); at the costliest turns measured
/// (~0.1 ms, a 32x32 mesh) it still polls every ~0.1 s.
pub const POLL_EVERY: u64 = 1024;

/// Wall time between two calls of the hook.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

type Hook = Box<dyn FnMut(Progress) -> bool>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Runs `f` with `hook` installed on this thread: while `f` runs, every
/// engine loop calls it about every [`POLL_INTERVAL`] with its progress; a
/// hook returning false stops the run with `Error::Interrupted`. The hook
/// before (if any) is put back afterwards.
pub fn with_hook<T>(hook: impl FnMut(Progress) -> bool + 'static, f: impl FnOnce() -> T) -> T {
    let previous = HOOK.with(|h| h.borrow_mut().replace(Box::new(hook)));
    struct Restore(Option<Hook>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            HOOK.with(|h| *h.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// A loop's side of the hook: the loop asks where its first poll point is
/// and, at each poll point it reaches, calls [`Poller::look`], which reads the
/// wall clock and calls the hook when [`POLL_INTERVAL`] has passed.
#[derive(Clone, Debug)]
pub struct Poller {
    last: Instant,
    active: bool,
}

impl Default for Poller {
    fn default() -> Self {
        Self::new()
    }
}

impl Poller {
    pub fn new() -> Self {
        Self {
            last: Instant::now(),
            active: HOOK.with(|h| h.borrow().is_some()),
        }
    }

    /// The first poll point of a loop at `cycle`: [`POLL_EVERY`] turns on,
    /// or never (`u64::MAX`) without a hook.
    pub fn first_check(&self, cycle: u64) -> u64 {
        if self.active {
            cycle.saturating_add(POLL_EVERY)
        } else {
            u64::MAX
        }
    }

    /// At a poll point: calls the hook with `progress()` when
    /// [`POLL_INTERVAL`] has passed since the last call. Returns false when
    /// the run must stop.
    #[cold]
    #[inline(never)]
    pub fn look(&mut self, progress: impl FnOnce() -> Progress) -> bool {
        if self.last.elapsed() < POLL_INTERVAL {
            return true;
        }
        self.last = Instant::now();
        self.call(progress())
    }

    /// Calls the hook now (at the end of a run, so that a progress display
    /// shows the last state).
    pub fn call(&mut self, progress: Progress) -> bool {
        HOOK.with(|h| h.borrow_mut().as_mut().is_none_or(|hook| hook(progress)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn without_a_hook_there_is_no_poll_point() {
        assert_eq!(Poller::new().first_check(5), u64::MAX);
    }

    #[test]
    fn a_hook_is_called_after_the_interval_and_can_stop_the_run() {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let seen = calls.clone();
        let stopped = with_hook(
            move |p| {
                seen.borrow_mut().push(p);
                false
            },
            || {
                let mut p = Poller::new();
                assert_eq!(p.first_check(5), 5 + POLL_EVERY);
                assert!(p.look(|| unreachable!("not due: the interval has not passed")));
                let start = Instant::now();
                let mut looks = 0u64;
                while start.elapsed() < 20 * POLL_INTERVAL {
                    looks += 1;
                    if !p.look(|| Progress {
                        cycle: looks,
                        done: 1,
                        total: 2,
                    }) {
                        return Some(looks);
                    }
                }
                None
            },
        );
        let looks = stopped.expect("the hook stopped the loop");
        let calls = calls.borrow();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].cycle, looks);
        assert_eq!((calls[0].done, calls[0].total), (1, 2));
        // the hook is gone after with_hook
        assert_eq!(Poller::new().first_check(0), u64::MAX);
    }

    #[test]
    fn hooks_nest_and_the_outer_one_comes_back() {
        let outer = with_hook(
            |_| true,
            || {
                with_hook(|_| false, || ());
                Poller::new().call(Progress {
                    cycle: 0,
                    done: 0,
                    total: 0,
                })
            },
        );
        assert!(outer, "the outer hook (which keeps going) is back");
    }
}
