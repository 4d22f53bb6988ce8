//! The link layer: flits, the wires they travel on, and credit counters.

pub mod credits;
pub mod delay_line;
pub mod flit;

pub use credits::CreditCounters;
pub use delay_line::DelayLine;
pub use flit::Flit;
