//! Running traffic on a fabric, start to finish.

use crate::error::Result;
use crate::result::RunResult;
use crate::simulation::Simulation;
use crate::spec::run::Fidelity;
use crate::spec::{FabricSpec, RunOptions};
use crate::traffic::MessageTraffic;

/// Runs `traffic` on `spec` to completion, at the options' fidelity.
///
/// Errors: `Spec` for bad input (nothing ran), `Deadlock` and `Limit` with
/// the partial result so far, `Invariant` if a checked invariant broke.
pub fn run_messages(
    spec: &FabricSpec,
    traffic: &MessageTraffic,
    opts: &RunOptions,
) -> Result<RunResult> {
    match opts.fidelity {
        Fidelity::Cycle => Simulation::new(spec, traffic, opts)?.finish(),
        Fidelity::Flow => crate::flow::run_messages(spec, traffic, opts),
    }
}
