//! The one error type of the engine. Each variant maps to one Python exception
//! (`SpecError`, `DeadlockError`, `SimulationLimitError`, `InvariantError`).

use crate::result::RunResult;
use crate::time::{Cycle, Ps};
use std::fmt;

/// A channel that waits on another when a run deadlocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingChannel {
    /// The node holding the channel (an endpoint index for now; routers later).
    pub node: u32,
    /// The output port of that node.
    pub port: u32,
    pub vc: u32,
    /// Why it cannot move, in words.
    pub reason: String,
}

#[derive(Debug)]
pub enum Error {
    /// Invalid input. `path` names the field (`link.credits_per_vc`,
    /// `traffic.dst[3]`); `message` says the value and what is allowed.
    Spec { path: String, message: String },
    /// Work remains but nothing can ever move again (or nothing moved for
    /// the watchdog's number of cycles).
    Deadlock {
        cycle: Cycle,
        time_ps: Ps,
        message: String,
        waiting: Vec<WaitingChannel>,
        partial: Box<RunResult>,
    },
    /// A run limit (`max_cycles`, `max_time_ns`) was reached first.
    Limit {
        message: String,
        partial: Box<RunResult>,
    },
    /// An engine invariant broke (credits not conserved, a buffer overflowed,
    /// a message delivered twice). Only raised when a spec or traffic is
    /// legal but the model is wrong, or with `check_invariants` on.
    Invariant { cycle: Cycle, message: String },
    /// The run hook asked to stop (Ctrl-C) at cycle `cycle`
    /// (`run_hook::with_hook`).
    Interrupted { cycle: Cycle },
}

impl Error {
    /// A spec error at `path`.
    pub fn spec(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Spec {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Prefixes the path of a spec error with `prefix.` (used when a nested
    /// spec is validated on its own and then reported inside its parent).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Error::Spec { path, message } if path.is_empty() => Error::spec(prefix, message),
            Error::Spec { path, message } => Error::spec(format!("{prefix}.{path}"), message),
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spec { path, message } if path.is_empty() => write!(f, "{message}"),
            Error::Spec { path, message } => write!(f, "{path}: {message}"),
            Error::Deadlock { message, .. } => write!(f, "{message}"),
            Error::Limit { message, .. } => write!(f, "{message}"),
            Error::Invariant { cycle, message } => {
                write!(f, "invariant broken at cycle {cycle}: {message}")
            }
            Error::Interrupted { cycle } => write!(f, "run interrupted at cycle {cycle}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
