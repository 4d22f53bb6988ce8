//! Presets compiled into the engine from `specs/`, so they load the same from a
//! checkout, a wheel, or a Rust program that embeds the core.

use super::hbm::HbmSpec;
use super::parse::from_toml;
use super::LinkSpec;
use crate::error::{Error, Result};

/// `(name, TOML text)` of every link preset, sorted by name.
pub const LINK_PRESETS: &[(&str, &str)] = &[
    (
        "cxl2_68b",
        include_str!("../../../../specs/link/cxl2_68b.toml"),
    ),
    (
        "cxl3_256b",
        include_str!("../../../../specs/link/cxl3_256b.toml"),
    ),
    (
        "ib_ndr_4x",
        include_str!("../../../../specs/link/ib_ndr_4x.toml"),
    ),
    ("noc", include_str!("../../../../specs/link/noc.toml")),
    (
        "nvlink4",
        include_str!("../../../../specs/link/nvlink4.toml"),
    ),
    (
        "pcie6_x16",
        include_str!("../../../../specs/link/pcie6_x16.toml"),
    ),
    (
        "ucie_advanced_x64",
        include_str!("../../../../specs/link/ucie_advanced_x64.toml"),
    ),
    (
        "ucie_standard_x16",
        include_str!("../../../../specs/link/ucie_standard_x16.toml"),
    ),
    (
        "uet_400g",
        include_str!("../../../../specs/link/uet_400g.toml"),
    ),
];

pub fn link_preset_names() -> Vec<&'static str> {
    LINK_PRESETS.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of preset `name` in `table`, or an error listing the known
/// `kind` presets.
fn preset_toml(table: &[(&str, &'static str)], kind: &str, name: &str) -> Result<&'static str> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            Error::spec(
                "preset",
                format!(
                    "unknown {kind} preset {name:?}; known presets: {}",
                    known.join(", ")
                ),
            )
        })
}

/// The TOML text of a link preset.
pub fn link_preset_toml(name: &str) -> Result<&'static str> {
    preset_toml(LINK_PRESETS, "link", name)
}

/// A link preset, parsed and validated.
pub fn link_preset(name: &str) -> Result<LinkSpec> {
    let spec: LinkSpec = from_toml(link_preset_toml(name)?, name)?;
    spec.validate().map_err(|e| e.within(name))?;
    Ok(spec)
}

/// `(name, TOML text)` of every fabric preset, sorted by name.
pub const FABRIC_PRESETS: &[(&str, &str)] = &[
    (
        "dgx8_cluster4",
        include_str!("../../../../specs/fabric/dgx8_cluster4.toml"),
    ),
    (
        "dgx8_nvls",
        include_str!("../../../../specs/fabric/dgx8_nvls.toml"),
    ),
    (
        "dgx8_nvswitch",
        include_str!("../../../../specs/fabric/dgx8_nvswitch.toml"),
    ),
    (
        "dgx_a100",
        include_str!("../../../../specs/fabric/dgx_a100.toml"),
    ),
    (
        "dgx_a100_cluster",
        include_str!("../../../../specs/fabric/dgx_a100_cluster.toml"),
    ),
    (
        "dgx_h100_cluster",
        include_str!("../../../../specs/fabric/dgx_h100_cluster.toml"),
    ),
    ("nvl72", include_str!("../../../../specs/fabric/nvl72.toml")),
    (
        "tpu_v4_cube",
        include_str!("../../../../specs/fabric/tpu_v4_cube.toml"),
    ),
];

/// The TOML text of a fabric preset.
pub fn fabric_preset_toml(name: &str) -> Result<&'static str> {
    preset_toml(FABRIC_PRESETS, "fabric", name)
}

/// `(name, TOML text)` of every memory-protocol preset, sorted by name.
pub const PROTOCOL_PRESETS: &[(&str, &str)] = &[
    (
        "cxl_mem",
        include_str!("../../../../specs/protocol/cxl_mem.toml"),
    ),
    (
        "nvlink_peer",
        include_str!("../../../../specs/protocol/nvlink_peer.toml"),
    ),
];

/// The TOML text of a memory-protocol preset.
pub fn protocol_preset_toml(name: &str) -> Result<&'static str> {
    preset_toml(PROTOCOL_PRESETS, "protocol", name)
}

/// `(name, TOML text)` of every router preset, sorted by name.
pub const ROUTER_PRESETS: &[(&str, &str)] = &[
    (
        "booksim_4stage",
        include_str!("../../../../specs/router/booksim_4stage.toml"),
    ),
    (
        "nvswitch_like",
        include_str!("../../../../specs/router/nvswitch_like.toml"),
    ),
];

/// The TOML text of a router preset.
pub fn router_preset_toml(name: &str) -> Result<&'static str> {
    preset_toml(ROUTER_PRESETS, "router", name)
}

/// `(name, TOML text)` of every HBM preset, sorted by name.
pub const HBM_PRESETS: &[(&str, &str)] = &[
    ("hbm2", include_str!("../../../../specs/hbm/hbm2.toml")),
    ("hbm2e", include_str!("../../../../specs/hbm/hbm2e.toml")),
    ("hbm3", include_str!("../../../../specs/hbm/hbm3.toml")),
    ("hbm3e", include_str!("../../../../specs/hbm/hbm3e.toml")),
    ("hbm4", include_str!("../../../../specs/hbm/hbm4.toml")),
];

/// The TOML text of an HBM preset.
pub fn hbm_preset_toml(name: &str) -> Result<&'static str> {
    preset_toml(HBM_PRESETS, "HBM", name)
}

/// An HBM preset, parsed and validated.
pub fn hbm_preset(name: &str) -> Result<HbmSpec> {
    let spec: HbmSpec = from_toml(hbm_preset_toml(name)?, name)?;
    spec.validate().map_err(|e| e.within(name))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_validates_and_cites_sources() {
        for name in link_preset_names() {
            let spec = link_preset(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(spec.name, name);
            assert!(!spec.sources.is_empty(), "{name} has no sources");
            spec.resolve().unwrap();
        }
    }

    #[test]
    fn hbm_presets_reach_their_public_peak_bandwidth() {
        // JEDEC / vendor figures: HBM2 256 GB/s, HBM2E 409.6 GB/s, HBM3 819 GB/s,
        // HBM3E 1.2 TB/s, HBM4 2 TB/s per stack.
        for (name, peak) in [
            ("hbm2", 256.0),
            ("hbm2e", 409.6),
            ("hbm3", 819.2),
            ("hbm3e", 1228.8),
            ("hbm4", 2048.0),
        ] {
            let h = hbm_preset(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                (h.peak_gbyte_per_s() - peak).abs() < 1e-9,
                "{name}: {}",
                h.peak_gbyte_per_s()
            );
            assert!(!h.sources.is_empty());
        }
        assert_eq!(hbm_preset("hbm2").unwrap().access_bytes(), 64);
        assert_eq!(hbm_preset("hbm3").unwrap().access_bytes(), 32);
        // 16 Gb per die x 8 dies = 16 GiB per HBM3 stack
        assert_eq!(hbm_preset("hbm3").unwrap().capacity_bytes(), 16 << 30);
        assert!(hbm_preset("hbm9").unwrap_err().to_string().contains("hbm3"));
        for (name, text) in PROTOCOL_PRESETS {
            let p: super::super::memfabric::ProtocolSpec = from_toml(text, name).unwrap();
            p.validate().unwrap();
            assert_eq!(p.name, *name);
            assert!(!p.sources.is_empty());
        }
        for (name, text) in ROUTER_PRESETS {
            let r: super::super::RouterSpec = from_toml(text, name).unwrap();
            r.validate().unwrap();
            assert_eq!(r.name, *name);
            assert!(!r.sources.is_empty());
        }
    }

    #[test]
    fn names_are_sorted_and_unknown_names_list_the_known_ones() {
        let names = link_preset_names();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let e = link_preset("pcie7").unwrap_err().to_string();
        assert!(
            e.contains("unknown link preset \"pcie7\"") && e.contains("pcie6_x16"),
            "{e}"
        );
    }
}
