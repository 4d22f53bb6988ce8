//! A message is delivered when all its flits are in, and the flow fidelity
//! sees the cycle engine's routes: the two checked on the same inputs.

use fabricsim_core::spec::parse::from_json;
use fabricsim_core::spec::run::Fidelity;
use fabricsim_core::{run_messages, FabricSpec, MessageTraffic, RunOptions};

/// A 2x2 mesh of 16 B one-flit packets, 2 VCs of 1 credit, virtual
/// cut-through and a 2-cycle router pipeline: a message's packets take
/// either VC at the routers and overtake each other.
fn overtaking_mesh() -> FabricSpec {
    from_json(
        r#"{"topology": {"type": "mesh", "dims": [2, 2]},
            "link": {"lanes": 1, "gbps_per_lane": 128.0, "flit_bytes": 16, "mtu_bytes": 16,
                     "latency_ns": 1.0, "vcs": 2, "credits_per_vc": 1},
            "router": {"pipeline_cycles": 2, "switching": "virtual_cut_through", "buffer_flits": 6}}"#,
        "fabric",
    )
    .expect("a valid spec")
}

fn one_message(bytes: u64) -> MessageTraffic {
    MessageTraffic {
        src: vec![0],
        dst: vec![1],
        bytes: vec![bytes],
        inject_ps: vec![0],
        vc: vec![0],
    }
}

#[test]
fn a_message_is_delivered_when_all_its_packets_are_in_however_they_overtake() {
    let spec = overtaking_mesh();
    for flits in 1..=20u64 {
        let r = run_messages(&spec, &one_message(16 * flits), &RunOptions::default()).unwrap();
        assert!(r.complete);
        // the ejection link into endpoint 1 (its port's second direction)
        let ejection = &r.links[3];
        assert_eq!((ejection.src, ejection.dst), (5, 1));
        assert_eq!(ejection.flits, flits, "{flits} flits");
        assert_eq!(ejection.payload_bytes, 16 * flits);
    }
}

#[test]
fn the_flow_fidelity_carries_the_same_flits_on_every_link() {
    let spec = overtaking_mesh();
    let traffic = one_message(16 * 9);
    let cycle = run_messages(&spec, &traffic, &RunOptions::default()).unwrap();
    let opts = RunOptions {
        fidelity: Fidelity::Flow,
        ..RunOptions::default()
    };
    let flow = run_messages(&spec, &traffic, &opts).unwrap();
    let flits = |r: &fabricsim_core::RunResult| r.links.iter().map(|l| l.flits).collect::<Vec<_>>();
    assert_eq!(flits(&cycle), flits(&flow));
}
