//! Known answers for the point-to-point link, computed by hand from the spec.

use fabricsim_core::rng::Rng;
use fabricsim_core::spec::parse::{from_json, from_toml};
use fabricsim_core::spec::Packing;
use fabricsim_core::{
    run_messages, EngineMode, Error, FabricSpec, LinkSpec, MessageTraffic, RunOptions, TopologySpec,
};

/// 16 lanes x 64 Gb/s, 256 B flits: one flit every 2000 ps exactly.
fn link(credits: u32, latency_ns: f64, credit_return_ns: f64) -> LinkSpec {
    let mut l = LinkSpec::with_defaults(16, 64.0, 256, 256, credits);
    l.name = "test".into();
    l.flit_overhead_bytes = 20;
    l.packet_overhead_bytes = 16;
    l.latency_ns = latency_ns;
    l.vcs = 2;
    l.credit_return_ns = credit_return_ns;
    l
}

fn fabric(link: LinkSpec) -> FabricSpec {
    FabricSpec::new(TopologySpec::PointToPoint, link)
}

fn stream(n: usize, bytes: u64) -> MessageTraffic {
    MessageTraffic {
        src: vec![0; n],
        dst: vec![1; n],
        bytes: vec![bytes; n],
        inject_ps: vec![0; n],
        vc: vec![0; n],
    }
}

#[test]
fn zero_load_latency_is_serialization_plus_propagation() {
    // 4096 B = 16 packets of 256 B; each packet carries 256 + 16 B in
    // flits of 236 B payload -> 2 flits; 32 flits in all.
    // Latency 10 ns = 5 cycles of 2 ns. The tail flit leaves in cycle 31,
    // finishes serializing at the start of cycle 32, arrives 5 cycles later
    // and is drained at once: delivery at cycle 37 = 74 ns.
    let flits = 32u64;
    let lat_cycles = 5u64;
    let r = run_messages(
        &fabric(link(64, 10.0, 10.0)),
        &stream(1, 4096),
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(r.deliver_ps[0], (flits + lat_cycles) * 2000);
    assert_eq!(r.send_ps[0], 0);
    assert_eq!(r.links[0].flits, flits);
    assert_eq!(r.links[0].payload_bytes, 4096);
    assert_eq!(r.links[1].flits, 0);
    assert!(r.complete);
}

#[test]
fn packed_packets_straddle_flits() {
    // Packed: 16 packets x 272 B = 4352 B in 236 B flits = 19 flits; the
    // flit count per message is what the segmenter emits, whatever the MTU.
    for (mtu, bytes) in [(256u32, 4096u64), (64, 1000), (1000, 5), (7, 3000)] {
        let mut l = link(64, 10.0, 10.0);
        l.packing = Packing::Packed;
        l.mtu_bytes = mtu;
        let expected = l.resolve().unwrap().message_flits(bytes);
        let r = run_messages(&fabric(l), &stream(1, bytes), &RunOptions::default()).unwrap();
        assert_eq!(r.links[0].flits, expected, "mtu {mtu} bytes {bytes}");
        assert_eq!(r.links[0].payload_bytes, bytes);
        assert_eq!(r.deliver_ps[0], (expected + 5) * 2000);
    }
    let mut l = link(64, 10.0, 10.0);
    l.packing = Packing::Packed;
    assert_eq!(l.resolve().unwrap().message_flits(4096), 19);
}

#[test]
fn padded_flit_counts_match_the_segmenter() {
    for (mtu, bytes) in [
        (256u32, 4096u64),
        (64, 1000),
        (1000, 5),
        (7, 3000),
        (236, 236),
        (220, 221),
    ] {
        let mut l = link(64, 0.0, 0.0);
        l.mtu_bytes = mtu;
        let expected = l.resolve().unwrap().message_flits(bytes);
        let r = run_messages(&fabric(l), &stream(1, bytes), &RunOptions::default()).unwrap();
        assert_eq!(r.links[0].flits, expected, "mtu {mtu} bytes {bytes}");
        assert_eq!(r.links[0].payload_bytes, bytes);
    }
}

#[test]
fn fractional_flit_time_and_late_injection_round_to_cycle_starts() {
    // 68 B flits on 8 x 64 Gb/s: 544 bits / 512 Gb/s = 1062.5 ps per flit.
    let mut l = link(64, 0.0, 0.0);
    l.lanes = 8;
    l.flit_bytes = 68;
    l.flit_overhead_bytes = 4;
    l.packet_overhead_bytes = 0;
    l.mtu_bytes = 64;
    // One 64 B message = 1 flit, injected at 1 ps -> admitted at cycle 1
    // (1062 ps), arrives at cycle 2 (2125 ps).
    let mut t = stream(1, 64);
    t.inject_ps = vec![1];
    let r = run_messages(&fabric(l), &t, &RunOptions::default()).unwrap();
    assert_eq!(r.cycle_ps, (2125, 2));
    assert_eq!(r.send_ps[0], 1062);
    assert_eq!(r.deliver_ps[0], 2125);
}

#[test]
fn long_stream_with_ample_credits_runs_at_raw_rate_times_payload_fraction() {
    // 2000 MTU packets back to back: 2 flits each, one flit per cycle.
    let n = 2000u64;
    let r = run_messages(
        &fabric(link(64, 10.0, 10.0)),
        &stream(n as usize, 256),
        &RunOptions::default(),
    )
    .unwrap();
    let flits = 2 * n;
    assert_eq!(r.links[0].flits, flits);
    // Last message delivered at cycle flits + latency: the link never idled.
    assert_eq!(*r.deliver_ps.iter().max().unwrap(), (flits + 5) * 2000);
    assert_eq!(r.links[0].credit_stall_cycles, 0);
    // Goodput over the busy span = 1024 Gb/s x 256 / (2 x 256) = 512 Gb/s.
    let span_ps = (flits * 2000) as f64;
    let goodput_gbps = (n * 256 * 8) as f64 / span_ps * 1000.0;
    assert!((goodput_gbps - 512.0).abs() < 1e-9, "{goodput_gbps}");
}

#[test]
fn credits_below_the_round_trip_cap_throughput_at_credits_over_round_trip() {
    // Round trip = 1 (serialize) + 5 (latency) + 5 (credit return) = 11
    // cycles. With 4 credits the sender moves 4 flits per 11 cycles.
    let credits = 4u64;
    let rtt = 11u64;
    let n = 1100u64; // 1-flit messages
    let r = run_messages(
        &fabric(link(credits as u32, 10.0, 10.0)),
        &stream(n as usize, 100),
        &RunOptions::default(),
    )
    .unwrap();
    // Flits go in bursts of 4 every 11 cycles: flit k leaves at
    // (k / 4) * 11 + k % 4; the last (k = n - 1) arrives 6 cycles later.
    let k = n - 1;
    let last_send = (k / credits) * rtt + k % credits;
    assert_eq!(
        *r.deliver_ps.iter().max().unwrap(),
        (last_send + 1 + 5) * 2000
    );
    // In each 11-cycle window 7 cycles stall for credits (the last window
    // ends when the final flit leaves).
    assert_eq!(
        r.links[0].credit_stall_cycles,
        (n / credits - 1) * (rtt - credits)
    );
    let throughput = n as f64 / (last_send + 1) as f64;
    let expected = credits as f64 / rtt as f64;
    assert!(
        (throughput - expected).abs() / expected < 0.01,
        "{throughput} vs {expected}"
    );
}

#[test]
fn drain_rate_below_link_rate_paces_the_stream() {
    // The receiver drains 256 Gb/s of wire bytes: one 256 B flit per 8 ns
    // = every 4 cycles; the link (1 flit/cycle) is throttled by credits.
    let mut spec = fabric(link(8, 10.0, 10.0));
    spec.endpoint.drain_gbps = Some(256.0);
    let n = 400u64;
    let r = run_messages(&spec, &stream(n as usize, 100), &RunOptions::default()).unwrap();
    let last = *r.deliver_ps.iter().max().unwrap() / 2000;
    let rate = n as f64 / last as f64;
    assert!((rate - 0.25).abs() < 0.01, "drained {rate} flits/cycle");
    // Little's law on the credit loop: 8 credits = 0.25 flits/cycle x (11
    // cycles of wire and return + time buffered), so the buffer holds
    // 8 - 0.25 x 11 = 5.25 flits on average.
    let h = &r.links[0];
    let cycles: u64 = h.occupancy_cycles.iter().sum();
    let flit_cycles: u64 = h
        .occupancy_cycles
        .iter()
        .enumerate()
        .map(|(i, c)| i as u64 * h.occupancy_width * c)
        .sum();
    let mean = flit_cycles as f64 / cycles as f64;
    assert!((mean - 5.25).abs() < 0.1, "mean occupancy {mean}");
    assert!((5..=6).contains(&h.max_occupancy), "{}", h.max_occupancy);
}

fn random_traffic(seed: u64, n: usize) -> MessageTraffic {
    let mut rng = Rng::for_component(seed, 99, 0);
    let mut t = MessageTraffic::default();
    for _ in 0..n {
        let s = rng.below(2) as u32;
        t.src.push(s);
        t.dst.push(1 - s);
        t.bytes.push(1 + rng.below(3000));
        t.inject_ps.push(rng.below(2_000_000));
        t.vc.push(rng.below(2) as u32);
    }
    t
}

#[test]
fn auto_and_tick_all_modes_agree_bit_for_bit() {
    for seed in 0..20 {
        let mut l = link(
            1 + (seed as u32 % 7),
            (seed % 5) as f64 * 3.3,
            (seed % 3) as f64 * 7.1,
        );
        l.mtu_bytes = 64 + (seed as u32 * 37) % 500;
        let mut spec = fabric(l);
        if seed % 4 == 1 {
            spec.endpoint.drain_gbps = Some(100.0 + 50.0 * seed as f64);
        }
        let t = random_traffic(seed, 60);
        let checked = RunOptions {
            check_invariants: true,
            ..RunOptions::default()
        };
        let a = run_messages(&spec, &t, &checked).unwrap();
        let b = run_messages(
            &spec,
            &t,
            &RunOptions {
                engine: EngineMode::TickAll,
                ..checked.clone()
            },
        )
        .unwrap();
        assert!(a.same_simulation(&b), "seed {seed}: modes differ");
        // Every message delivered once, after it was sent, in order per (src, vc).
        for i in 0..t.len() {
            assert!(a.deliver_ps[i] > a.send_ps[i] && a.send_ps[i] >= t.inject_ps[i]);
        }
        let total: u64 = a.links.iter().map(|l| l.payload_bytes).sum();
        assert_eq!(total, t.bytes.iter().sum::<u64>());
    }
}

#[test]
fn stuck_receiver_is_reported_as_deadlock_with_the_waiting_channel() {
    let mut spec = fabric(link(4, 10.0, 10.0));
    spec.endpoint.drain_gbps = Some(0.0);
    for engine in [EngineMode::Auto, EngineMode::TickAll] {
        let opts = RunOptions {
            engine,
            ..RunOptions::default()
        };
        let err = run_messages(&spec, &stream(3, 4096), &opts).unwrap_err();
        let Error::Deadlock {
            cycle,
            waiting,
            partial,
            message,
            ..
        } = err
        else {
            panic!("expected deadlock, got {err}");
        };
        // 4 flits sent in cycles 0..3 arrive by cycle 3 + 1 + 5 = 9 and are
        // acknowledged at once; the last ACK reaches the sender at 9 + 5 = 14.
        // Then nothing can happen.
        assert_eq!(cycle, 14, "{engine:?}");
        assert_eq!(waiting.len(), 1);
        assert_eq!((waiting[0].node, waiting[0].vc), (0, 0));
        assert!(message.contains("never drains"), "{message}");
        assert!(!partial.complete);
        assert_eq!(partial.links[0].flits, 4);
    }
}

#[test]
fn limits_stop_the_run_with_the_same_partial_result_in_every_mode() {
    let spec = fabric(link(4, 10.0, 10.0));
    let t = stream(50, 4096);
    let mut partials = vec![];
    for engine in [EngineMode::Auto, EngineMode::TickAll] {
        let opts = RunOptions {
            engine,
            max_cycles: Some(500),
            ..RunOptions::default()
        };
        match run_messages(&spec, &t, &opts).unwrap_err() {
            Error::Limit { partial, message } => {
                assert!(message.contains("cycle 500"), "{message}");
                assert_eq!(partial.cycles, 500);
                partials.push(partial);
            }
            e => panic!("expected limit, got {e}"),
        }
    }
    assert!(partials[0].same_simulation(&partials[1]));
    let e = run_messages(
        &spec,
        &t,
        &RunOptions {
            max_time_ns: Some(100.0),
            ..RunOptions::default()
        },
    )
    .unwrap_err();
    // 100 ns = cycle 50 at 2 ns; cycles 0..=50 start at or before it.
    let Error::Limit { partial, .. } = e else {
        panic!()
    };
    assert_eq!(partial.cycles, 51);
}

#[test]
fn bad_traffic_names_the_row_and_column() {
    let spec = fabric(link(4, 10.0, 10.0));
    let mut t = stream(3, 64);
    t.dst[2] = 7;
    let e = run_messages(&spec, &t, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("traffic.dst[2]: names endpoint 7"), "{e}");
    let mut t = stream(3, 64);
    t.vc[1] = 2;
    let e = run_messages(&spec, &t, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("traffic.vc[1]: must be in 0..2"), "{e}");
    let mut t = stream(3, 64);
    t.bytes[0] = 0;
    let e = run_messages(&spec, &t, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("traffic.bytes[0]"), "{e}");
}

#[test]
fn specs_from_text_name_the_bad_field() {
    let e = from_toml::<LinkSpec>("lanes = 1\nbogus = 3\n", "link")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `bogus`"), "{e}");
    assert!(e.contains("line 2"), "{e}");
    let e = from_json::<FabricSpec>(
        r#"{"topology": {"type": "hypercube"}, "link": {}}"#,
        "fabric",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("fabric.topology"), "{e}");
    assert!(e.contains("point_to_point"), "{e}");
    let e = from_json::<LinkSpec>(r#"{"lanes": -1}"#, "link")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("link.lanes"), "{e}");
}

#[test]
fn stepping_in_chunks_is_the_same_run() {
    use fabricsim_core::Simulation;
    for seed in 0..6u64 {
        let mut l = link(3 + seed as u32, 6.0, 4.0);
        l.ber = 2e-5;
        l.ack_coalesce_flits = 1 + seed as u32 % 3;
        let spec = fabric(l);
        let t = random_traffic(seed, 40);
        let opts = RunOptions {
            seed,
            check_invariants: true,
            ..RunOptions::default()
        };
        let whole = run_messages(&spec, &t, &opts).unwrap();
        let mut sim = Simulation::new(&spec, &t, &opts).unwrap();
        let mut rng = Rng::for_component(seed, 7, 7);
        while sim.delivered() < t.len() {
            sim.step(1 + rng.below(50)).unwrap();
        }
        let stepped = sim.finish().unwrap();
        // Stepping may run past the last delivery; what was simulated agrees.
        assert_eq!(stepped.deliver_ps, whole.deliver_ps, "seed {seed}");
        assert_eq!(stepped.send_ps, whole.send_ps);
        assert_eq!(
            stepped.links[0].counters.flits_replayed,
            whole.links[0].counters.flits_replayed
        );
        assert_eq!(stepped.links[0].flits, whole.links[0].flits);
    }
}

#[test]
fn injected_messages_and_faults_take_effect_at_the_current_cycle() {
    use fabricsim_core::spec::faults::Fault;
    use fabricsim_core::Simulation;
    let spec = fabric(link(64, 10.0, 10.0));
    let mut sim =
        Simulation::new(&spec, &MessageTraffic::default(), &RunOptions::default()).unwrap();
    sim.step(100).unwrap();
    assert_eq!(sim.cycle(), 100);
    sim.inject_fault(&Fault::CorruptFlit { link: 0, flit: 0 })
        .unwrap();
    let id = sim.inject(0, 1, 100, 1).unwrap();
    assert_eq!(id, 0);
    sim.step(3).unwrap();
    let s = &sim.state()[0];
    assert_eq!((s.next_seq, s.transmissions, s.credits[1]), (1, 1, 63));
    let r = sim.finish().unwrap();
    // Sent at cycle 100, corrupted, NAKed at 106, resent at 111, delivered at 117.
    assert_eq!(r.send_ps[0], 100 * 2000);
    assert_eq!(r.deliver_ps[0], (100 + 11 + 6) * 2000);
    assert_eq!(r.links[0].counters.flits_replayed, 1);
    let e = sim.inject(0, 0, 5, 0).unwrap_err().to_string();
    assert!(e.starts_with("traffic.dst: equals src"), "{e}");
    let e = sim
        .inject_fault(&Fault::DropAck {
            link: 3,
            at_ns: 0.0,
        })
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("fault.link"), "{e}");
}

#[test]
fn a_hook_that_says_stop_interrupts_the_run_and_one_that_watches_changes_nothing() {
    use fabricsim_core::run_hook::with_hook;
    let spec = fabric(link(64, 10.0, 10.0));
    // a 32 TiB message: hours of engine time unless something stops it
    let endless = stream(1, 1 << 45);
    for engine in [EngineMode::Auto, EngineMode::TickAll] {
        let opts = RunOptions {
            engine,
            ..RunOptions::default()
        };
        let started = std::time::Instant::now();
        match with_hook(|_| false, || run_messages(&spec, &endless, &opts)) {
            Err(Error::Interrupted { cycle }) => assert!(cycle > 0),
            other => panic!("expected an interruption, got {other:?}"),
        }
        assert!(started.elapsed().as_secs_f64() < 2.0);
    }
    // a hook that keeps going sees progress and leaves the result as it was
    // (long enough in wall time, on any machine, for several polls of 100 ms)
    let mut n = 2000;
    let (t, plain) = loop {
        let t = stream(n, 1 << 16);
        let started = std::time::Instant::now();
        let plain = run_messages(&spec, &t, &RunOptions::default()).unwrap();
        if started.elapsed().as_secs_f64() > 0.3 || n >= 128_000 {
            break (t, plain);
        }
        n *= 4;
    };
    let seen = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let count = seen.clone();
    let total = n as u64;
    let watched = with_hook(
        move |p| {
            assert!(p.done <= p.total && p.total == total);
            count.set(count.get() + 1);
            true
        },
        || run_messages(&spec, &t, &RunOptions::default()),
    )
    .unwrap();
    assert!(
        seen.get() > 0,
        "the run was long enough for the hook to be called"
    );
    assert!(watched.same_simulation(&plain));
}
