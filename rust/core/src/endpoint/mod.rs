//! An endpoint's network interface: the transmit side cuts messages into
//! packets and flits and arbitrates VCs for credits; the receive side buffers
//! flits per VC, drains them at its pace and returns credits.

pub mod rx;
pub mod tx;

pub use rx::RxPort;
pub use tx::TxPort;
