//! Ctrl-C and progress while the engine runs with the GIL released: the
//! core's run hook (`fabricsim_core::run_hook`) is called a few times a
//! second; it takes the GIL for a moment, runs Python's signal handlers (a
//! pending SIGINT raises `KeyboardInterrupt` there) and calls the progress
//! callback set for this thread, if any. Either raising stops the run, and
//! `enter` re-raises that exception.

use fabricsim_core::run_hook::{with_hook, Progress};
use pyo3::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    /// The progress callback of the runs started on this thread.
    static PROGRESS: RefCell<Option<Py<PyAny>>> = const { RefCell::new(None) };
}

/// Sets the callback `(cycle, done, total) -> None` that runs started on this
/// thread call about every 0.1 s (None: no callback); returns the one before.
#[pyfunction]
pub(crate) fn set_progress(callback: Option<Py<PyAny>>) -> Option<Py<PyAny>> {
    PROGRESS.with(|p| std::mem::replace(&mut *p.borrow_mut(), callback))
}

/// The callback of this thread, for a run about to release the GIL.
pub(crate) fn progress_callback(py: Python<'_>) -> Option<Py<PyAny>> {
    PROGRESS.with(|p| p.borrow().as_ref().map(|c| c.clone_ref(py)))
}

/// Runs `f` (already without the GIL) with the hook installed; returns what
/// it returned and the Python exception that stopped it, if one did.
pub(crate) fn with_interrupts<T>(
    callback: Option<Py<PyAny>>,
    f: impl FnOnce() -> T,
) -> (T, Option<PyErr>) {
    let raised: Rc<RefCell<Option<PyErr>>> = Rc::new(RefCell::new(None));
    let stash = raised.clone();
    let hook = move |p: Progress| {
        Python::attach(|py| {
            let outcome = py.check_signals().and_then(|()| match &callback {
                Some(cb) => cb.call1(py, (p.cycle, p.done, p.total)).map(|_| ()),
                None => Ok(()),
            });
            match outcome {
                Ok(()) => true,
                Err(e) => {
                    *stash.borrow_mut() = Some(e);
                    false
                }
            }
        })
    };
    let out = with_hook(hook, f);
    let err = raised.borrow_mut().take();
    (out, err)
}
