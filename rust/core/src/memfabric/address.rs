//! The address map: one memory device per endpoint (an accelerator's HBM or
//! an expander), and a global physical address space interleaved over them.

use crate::spec::memfabric::Target;

pub struct AddressMap {
    /// Per endpoint: its device's capacity in bytes.
    capacity: Vec<u64>,
    /// Endpoints of the expanders, in order.
    expanders: Vec<u32>,
    interleave: u64,
    /// Bytes of the global space each device holds (the smallest device's
    /// capacity, in whole blocks).
    per_device: u64,
}

impl AddressMap {
    pub fn new(capacity: Vec<u64>, expanders: Vec<u32>, interleave: u64) -> Self {
        let smallest = capacity.iter().copied().min().unwrap_or(0);
        Self {
            per_device: smallest / interleave * interleave,
            capacity,
            expanders,
            interleave,
        }
    }

    pub fn devices(&self) -> usize {
        self.capacity.len()
    }

    /// The device (endpoint) a non-global target of requester `at` names.
    pub fn device_of(&self, target: Target, at: u32) -> u32 {
        match target {
            Target::Local | Target::Global => at,
            Target::Peer(e) => e,
            Target::Expander(k) => self.expanders[k as usize],
        }
    }

    /// Bytes of addresses a target offers.
    pub fn space(&self, target: Target, at: u32) -> u64 {
        match target {
            Target::Global => self.per_device * self.devices() as u64,
            t => self.capacity[self.device_of(t, at) as usize],
        }
    }

    /// The device and the address within it of `addr` in `target`'s space.
    pub fn locate(&self, target: Target, at: u32, addr: u64) -> (u32, u64) {
        match target {
            Target::Global => {
                let block = addr / self.interleave;
                let n = self.devices() as u64;
                let device = (block % n) as u32;
                (device, block / n * self.interleave + addr % self.interleave)
            }
            t => (self.device_of(t, at), addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_space_interleaves_blocks_over_devices() {
        let m = AddressMap::new(vec![1 << 20; 4], vec![3], 4096);
        assert_eq!(m.space(Target::Global, 0), 4 << 20);
        assert_eq!(m.locate(Target::Global, 0, 0), (0, 0));
        assert_eq!(m.locate(Target::Global, 0, 4096 + 5), (1, 5));
        assert_eq!(m.locate(Target::Global, 0, 4 * 4096 + 7), (0, 4096 + 7));
        assert_eq!(m.locate(Target::Expander(0), 1, 64), (3, 64));
        assert_eq!(m.locate(Target::Local, 2, 64), (2, 64));
        // Every global address maps to one device address and back.
        let mut seen = std::collections::HashSet::new();
        for a in (0..m.space(Target::Global, 0)).step_by(1024) {
            assert!(seen.insert(m.locate(Target::Global, 0, a)));
        }
    }
}
