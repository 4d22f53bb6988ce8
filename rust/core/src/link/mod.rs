//! The link layer: flits, the wires they travel on, and credit counters.

pub mod channel;
pub mod credits;
pub mod delay_line;
pub mod flit;
pub mod retry;

pub use credits::CreditCounters;
pub use delay_line::DelayLine;
pub use flit::{Flit, WireFlit};
