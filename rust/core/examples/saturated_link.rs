//! A saturated PCIe-6-like link, for profiling the hot loop:
//! `cargo run --release --example saturated_link -p fabricsim-core`.

use fabricsim_core::spec::presets::link_preset;
use fabricsim_core::{run_messages, FabricSpec, MessageTraffic, RunOptions, TopologySpec};

fn main() {
    let mut link = link_preset("pcie6_x16").expect("preset");
    link.credits_per_vc = 64;
    let spec = FabricSpec::new(TopologySpec::PointToPoint, link);
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let traffic = MessageTraffic {
        src: vec![0; n],
        dst: vec![1; n],
        bytes: vec![1 << 20; n],
        inject_ps: vec![0; n],
        vc: vec![0; n],
    };
    let r = run_messages(&spec, &traffic, &RunOptions::default()).expect("run");
    let flits: u64 = r.links.iter().map(|l| l.flits).sum();
    println!(
        "{flits} flits in {:.3} s: {:.1} M flits/s, {:.1} M events/s",
        r.wall_seconds,
        flits as f64 / r.wall_seconds / 1e6,
        r.events as f64 / r.wall_seconds / 1e6
    );
}
