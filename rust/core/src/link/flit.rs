//! The flit: the unit a link serializes and a buffer holds.

use crate::ids::MsgId;

/// One flit. A small `Copy` value (16 bytes): buffers and wires hold flits
/// by value, never behind a pointer, and nothing is allocated per flit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flit {
    /// The message this flit belongs to.
    pub msg: MsgId,
    /// The message's destination endpoint: what routers route on. (Carried,
    /// not looked up in the message log: that lookup was a cache miss at
    /// the head of every routing decision's chain of loads; 16x16 mesh +3%.)
    pub dst: u32,
    /// Message payload bytes delivered by this flit's packet; set on the
    /// packet's tail flit only (0 elsewhere), so summing over flits counts
    /// each payload byte once.
    pub payload_bytes: u32,
    pub vc: u8,
    /// `HEAD`, `TAIL`, `MSG_TAIL` bits, and the channel's verdict bits.
    pub flags: u8,
    /// On a padded packet's head flit: the packet's length in flits (what
    /// virtual cut-through reserves); 0 elsewhere.
    pub packet_flits: u16,
}

impl Flit {
    /// First flit of a packet.
    pub const HEAD: u8 = 1;
    /// Last flit of a packet.
    pub const TAIL: u8 = 2;
    /// Last flit of the last packet of a message.
    pub const MSG_TAIL: u8 = 4;
    /// Set by the channel: errors the CRC will catch.
    pub const DETECTED: u8 = 8;
    /// Set by the channel: errors the CRC will miss (delivered corrupt).
    pub const UNDETECTED: u8 = 16;
    /// Set by the channel: errors FEC corrected.
    pub const CORRECTED: u8 = 32;

    #[inline]
    pub fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A flit on one link's wire, with the sequence number that link's retry
/// gave it (modulo `2^seq_bits`; 0 on a link without retry). The number
/// belongs to the link, not to the flit: routers' buffers hold the
/// [`Flit`] alone, which keeps it at 16 bytes (at 20, a mesh ran 3% slower).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireFlit {
    pub flit: Flit,
    pub seq: u32,
}

#[cfg(test)]
mod tests {
    #[test]
    fn flit_stays_small() {
        assert!(std::mem::size_of::<super::Flit>() <= 16);
    }
}
