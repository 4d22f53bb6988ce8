//! fabricsim-core: the cycle-level engine of fabricsim, in plain Rust.
//!
//! ```text
//!  spec (TOML / JSON)        traffic (columns)
//!        |                         |
//!   spec::*Spec --validate--> resolve() --> LinkParams (integers, cycles)
//!                                   \           |
//!                                    +--> network::Network (endpoints, link
//!                                         directions, wires, credits)
//!                                               |
//!                          engine::drive  <-----+  (tick while busy, jump when
//!                                               |   idle, limits, watchdog)
//!                                               v
//!                                  result::RunResult (columns)
//! ```
//!
//! Time is integer picoseconds ([`time`]); each model sees cycles of its own
//! [`time::ClockDomain`]. Components sit in dense arrays indexed by typed ids
//! ([`ids`]) and talk only through wires of latency >= 1 cycle
//! ([`link::DelayLine`]), so results never depend on visiting order. The crate
//! knows nothing of Python; `rust/python` converts and delegates.

pub mod build;
pub mod collective;
mod collective_dag;
pub mod collective_memory;
pub mod collective_plan;
pub mod collective_verify;
pub mod deadlock;
mod dense;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod fabric;
pub mod flow;
pub mod hbm;
pub mod ids;
pub mod link;
pub mod link_samples;
pub mod link_spans;
pub mod memfabric;
pub mod network;
pub mod result;
pub mod rng;
pub mod routing;
pub mod run_hook;
pub mod simulation;
pub mod spec;
pub mod stats;
pub mod time;
pub mod topology;
pub mod traffic;

pub use error::{Error, Result};
pub use fabric::run_messages;
pub use result::RunResult;
pub use simulation::Simulation;
pub use spec::{EndpointSpec, EngineMode, FabricSpec, LinkSpec, RunOptions, TopologySpec};
pub use traffic::MessageTraffic;
