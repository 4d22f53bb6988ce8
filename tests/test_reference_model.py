"""The engine against the plain Python reference model of the link protocol, cycle by
cycle: a hypothesis state machine injects messages and faults and advances time in both,
and after every step they must agree on every credit, sequence number, ACK in flight and
delivery."""

import warnings

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import fabricsim as fs
from fabricsim.testing.reference import ReferenceLink


@st.composite
def small_links(draw):
    """Links with 1 ns flits (16 B at 128 Gb/s) and every protocol knob in a small range."""
    credits = draw(st.integers(1, 6))
    return fs.LinkSpec(
        lanes=1,
        gbps_per_lane=128,
        flit_bytes=16,
        flit_overhead_bytes=draw(st.integers(0, 4)),
        packet_overhead_bytes=draw(st.integers(0, 8)),
        mtu_bytes=draw(st.integers(8, 64)),
        packing=draw(st.sampled_from(["padded", "packed"])),
        vcs=draw(st.integers(1, 3)),
        credits_per_vc=credits,
        credit_coalesce_flits=draw(st.integers(1, credits)),
        latency_ns=draw(st.integers(0, 4)),
        credit_return_ns=draw(st.integers(0, 4)),
        ack_coalesce_flits=draw(st.integers(1, 4)),
        ack_timer_ns=draw(st.one_of(st.none(), st.integers(0, 6).map(float))),
        replay_buffer_flits=draw(st.one_of(st.none(), st.integers(1, 12))),
        replay_timeout_ns=draw(st.one_of(st.none(), st.integers(2, 40).map(float))),
        retry=draw(st.sampled_from(["go_back_n", "selective_repeat"])),
    )


class EngineMatchesReference(RuleBasedStateMachine):
    @initialize(link=small_links())
    def build(self, link):
        with warnings.catch_warnings():  # a short replay timeout is unsafe but legal
            warnings.simplefilter("ignore", fs.UnsafeSpecWarning)
            fab = fs.Fabric(topology=fs.topology.point_to_point(), link=link)
        self.link = link
        self.sim = fab.simulation(check_invariants=True)
        self.ref = ReferenceLink(link)

    @rule(data=st.data(), src=st.integers(0, 1), nbytes=st.integers(1, 200))
    def inject(self, data, src, nbytes):
        vc = data.draw(st.integers(0, self.link.vcs - 1))
        assert self.sim.inject(src, 1 - src, nbytes, vc) == self.ref.inject(src, nbytes, vc)

    @rule(cycles=st.integers(1, 25))
    def step(self, cycles):
        self.sim.step(cycles)
        self.ref.step(cycles)

    @rule(
        kind=st.sampled_from(["corrupt_flit", "drop_ack", "link_down"]),
        link=st.integers(0, 1),
        k=st.integers(0, 8),
        ahead_ns=st.integers(0, 20),
        duration_ns=st.integers(1, 15),
    )
    def fault(self, kind, link, k, ahead_ns, duration_ns):
        now_ns = self.sim.time_ps / 1000
        upcoming = self.sim.state()[link]["transmissions"] + k  # a flit not yet sent
        f = {
            "corrupt_flit": fs.faults.corrupt_flit(link, upcoming),
            "drop_ack": fs.faults.drop_ack(link, now_ns + ahead_ns),
            "link_down": fs.faults.link_down(link, now_ns + ahead_ns, duration_ns),
        }[kind]
        self.sim.inject_fault(f)
        self.ref.inject_fault(f)

    @invariant()
    def agree(self):
        if not hasattr(self, "sim"):
            return
        assert self.sim.cycle == self.ref.cycle
        for got, want in zip(self.sim.state(), self.ref.state(), strict=True):
            assert got == want, f"cycle {self.sim.cycle}:\n engine    {got}\n reference {want}"
        num, den = self.ref.cycle_ps
        delivered = {i: int(t) for i, t in enumerate(self.sim.partial().messages["deliver_ps"]) if t >= 0}
        assert delivered == {m: c * num // den for m, c in self.ref.delivered.items()}


# Examples from the active profile (fast in `make test`, thorough in `make fuzz`).
EngineMatchesReference.TestCase.settings = settings(settings.default, stateful_step_count=40, deadline=None)
test_engine_matches_the_reference_model = EngineMatchesReference.TestCase
