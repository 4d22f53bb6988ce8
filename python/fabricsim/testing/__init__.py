"""Tools for testing fabrics and fuzzing specs: invariant checkers that work on any run,
and hypothesis strategies that produce only valid inputs and shrink to small ones.

>>> from fabricsim.testing import check_all
>>> check_all(result, link)   # raises AssertionError naming the first broken invariant

The strategies need ``hypothesis`` (``pip install hypothesis``):

>>> from fabricsim.testing.strategies import link_specs, message_traffic, routed_cases
>>> fabricsim.testing.load_profile()   # in a conftest.py: "fast", or HYPOTHESIS_PROFILE
"""

from fabricsim.testing.case import Case, replay
from fabricsim.testing.dram import Violation, check_dram_timing, command_trace
from fabricsim.testing.invariants import (
    check_all,
    check_exactly_once,
    check_flit_counts,
    check_in_order_per_vc,
    check_no_corruption,
    check_payload_conserved,
    check_zero_load_bound,
)
from fabricsim.testing.profiles import load_profile

__all__ = [
    "Case",
    "Violation",
    "check_all",
    "check_dram_timing",
    "check_exactly_once",
    "check_flit_counts",
    "check_in_order_per_vc",
    "check_no_corruption",
    "check_payload_conserved",
    "check_zero_load_bound",
    "command_trace",
    "load_profile",
    "replay",
]
