//! Address mapping: which bits of a physical address pick the channel,
//! pseudo-channel, stack ID, bank group, bank, row and column.
//!
//! Written as a bit-order string, most significant field first, in the style
//! of DRAMsim3's `address_mapping` and Ramulator's `RoBaRaCoCh`: each field
//! takes log2(count) bits; the bits below the fields are the byte offset
//! within one access (`access_bytes`).

use crate::error::{Error, Result};
use crate::spec::hbm::HbmSpec;

/// The fields of an address, in the order `Location` stores them.
const FIELDS: [&str; 7] = ["Ch", "Pc", "Sd", "Bg", "Ba", "Ro", "Co"];

/// Where one access lands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub channel: u32,
    pub pseudo_channel: u32,
    pub sid: u32,
    pub bank_group: u32,
    pub bank: u32,
    pub row: u32,
    pub column: u32,
}

/// A resolved mapping: per field, its shift and mask in the access index.
#[derive(Clone, Debug)]
pub struct AddressMapping {
    /// (shift, mask) per field, indexed like `FIELDS`.
    fields: [(u32, u64); 7],
    offset_bits: u32,
    capacity: u64,
    xor_bank_hash: bool,
    bg_bits: u32,
    ba_bits: u32,
}

impl AddressMapping {
    /// Consecutive accesses go to different channels, then pseudo-channels,
    /// then alternate bank groups (so a stream runs at tCCD_S, not tCCD_L),
    /// then columns of one row: streams are row hits and spread over the stack.
    pub const DEFAULT: &'static str = "RoSdBaCoBgPcCh";

    /// Parses the field order (names and uniqueness only), most significant first.
    pub fn parse_fields(text: &str) -> Result<Vec<usize>> {
        let bad = |why: String| {
            Error::spec(
                "mapping",
                format!(
                    "{why} in {text:?}; write two-letter fields from most to least significant, each once, from {}",
                    FIELDS.join(", ")
                ),
            )
        };
        if text.len() % 2 != 0 || !text.is_ascii() {
            return Err(bad("not a sequence of two-letter fields".into()));
        }
        let mut order = Vec::new();
        for i in (0..text.len()).step_by(2) {
            let tok = &text[i..i + 2];
            let Some(f) = FIELDS.iter().position(|&n| n == tok) else {
                return Err(bad(format!("unknown field {tok:?}")));
            };
            if order.contains(&f) {
                return Err(bad(format!("field {tok:?} appears twice")));
            }
            order.push(f);
        }
        Ok(order)
    }

    pub fn new(text: &str, xor_bank_hash: bool, hbm: &HbmSpec) -> Result<Self> {
        let order = Self::parse_fields(text)?;
        let counts = [
            ("channels", hbm.channels),
            ("pseudo_channels", hbm.pseudo_channels),
            ("sids", hbm.sids),
            ("bank_groups", hbm.bank_groups),
            ("banks_per_group", hbm.banks_per_group),
            ("rows", hbm.rows),
            ("columns", hbm.columns),
        ];
        for (f, (name, count)) in counts.iter().enumerate() {
            if !count.is_power_of_two() {
                return Err(Error::spec(
                    format!("hbm.{name}"),
                    format!("must be a power of two to be address-mapped, got {count}"),
                ));
            }
            if *count > 1 && !order.contains(&f) {
                return Err(Error::spec(
                    "mapping",
                    format!(
                        "{text:?} has no {} field, but the stack has {count} {name}",
                        FIELDS[f]
                    ),
                ));
            }
        }
        let access = hbm.access_bytes();
        if !access.is_power_of_two() {
            return Err(Error::spec(
                "hbm.dq_bits",
                format!("dq_bits x burst_length / 8 (bytes per access) must be a power of two to be address-mapped, got {access}"),
            ));
        }
        let mut fields = [(0u32, 0u64); 7];
        let mut shift = 0;
        for &f in order.iter().rev() {
            let bits = counts[f].1.trailing_zeros();
            fields[f] = (shift, (1u64 << bits) - 1);
            shift += bits;
        }
        Ok(Self {
            fields,
            offset_bits: access.trailing_zeros(),
            capacity: hbm.capacity_bytes(),
            xor_bank_hash,
            bg_bits: hbm.bank_groups.trailing_zeros(),
            ba_bits: hbm.banks_per_group.trailing_zeros(),
        })
    }

    /// Bytes the mapping covers (the stack's capacity).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The location of the access holding byte `addr` (< capacity).
    #[inline]
    pub fn decode(&self, addr: u64) -> Location {
        let a = addr >> self.offset_bits;
        let get = |f: usize| ((a >> self.fields[f].0) & self.fields[f].1) as u32;
        let row = get(5);
        let mut bank_group = get(3);
        let mut bank = get(4);
        if self.xor_bank_hash {
            // Permutation-based interleaving (Zhang et al., MICRO 2000): the
            // low row bits flip the bank bits, so rows that would conflict in
            // one bank land in different ones; within a row nothing changes.
            bank_group ^= row & ((1 << self.bg_bits) - 1);
            bank ^= (row >> self.bg_bits) & ((1 << self.ba_bits) - 1);
        }
        Location {
            channel: get(0),
            pseudo_channel: get(1),
            sid: get(2),
            bank_group,
            bank,
            row,
            column: get(6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::presets;

    fn hbm3() -> HbmSpec {
        crate::spec::parse::from_toml(presets::hbm_preset_toml("hbm3").unwrap(), "hbm").unwrap()
    }

    #[test]
    fn default_mapping_spreads_consecutive_accesses() {
        let h = hbm3();
        let m = AddressMapping::new(AddressMapping::DEFAULT, false, &h).unwrap();
        // 32 B accesses: channel bits first (16 channels), then the PC bit,
        // then 2 bank-group bits, then 5 column bits.
        assert_eq!(m.decode(0), Location::default());
        assert_eq!(m.decode(31).channel, 0);
        assert_eq!(m.decode(32).channel, 1);
        assert_eq!(m.decode(16 * 32).pseudo_channel, 1);
        assert_eq!(m.decode(32 * 32).bank_group, 1);
        assert_eq!(m.decode(128 * 32).column, 1);
        let top = m.decode(h.capacity_bytes() - 1);
        assert_eq!(top.row, h.rows - 1);
        assert_eq!(top.sid, 1);
    }

    #[test]
    fn xor_hash_moves_conflicting_rows_to_other_banks() {
        let h = hbm3();
        let plain = AddressMapping::new("RoSdBaBgCoPcCh", false, &h).unwrap();
        let hashed = AddressMapping::new("RoSdBaBgCoPcCh", true, &h).unwrap();
        let row_stride = h.capacity_bytes() / h.rows as u64;
        let (a, b) = (plain.decode(0), plain.decode(row_stride));
        assert_eq!((a.bank_group, a.bank), (b.bank_group, b.bank));
        assert_ne!(
            hashed.decode(0).bank_group,
            hashed.decode(row_stride).bank_group
        );
    }

    #[test]
    fn bad_mappings_name_the_problem() {
        let h = hbm3();
        for (text, needle) in [
            ("RoBaBgCoPcC", "two-letter"),
            ("RoBaBgCoPcXx", "unknown field \"Xx\""),
            ("RoRoBaBgCoPcCh", "twice"),
            ("RoBaBgCoPcCh", "no Sd field"),
        ] {
            let e = AddressMapping::new(text, false, &h)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let mut odd = h.clone();
        odd.rows = 1000;
        let e = AddressMapping::new(AddressMapping::DEFAULT, false, &odd)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hbm.rows: must be a power of two"), "{e}");
    }
}
