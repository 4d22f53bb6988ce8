"""Hypothesis profiles for fabricsim's property tests: ``fast`` (40 examples, what
``make test`` runs) and ``thorough`` (2,000, what ``make fuzz`` runs), without deadlines (a
case's run time varies with the fabric it draws)."""

from __future__ import annotations

import os

from fabricsim.checks import one_of

PROFILES = {"fast": 40, "thorough": 2000}
"""Profile name -> examples per property."""


def load_profile(name: str | None = None) -> str:
    """Registers the profiles and loads ``name`` (default: the ``HYPOTHESIS_PROFILE``
    environment variable, else ``fast``); returns the name loaded. Call it from a
    ``conftest.py``. Needs hypothesis."""
    from hypothesis import HealthCheck, settings

    for profile, examples in PROFILES.items():
        settings.register_profile(
            profile, max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )
    chosen = name if name is not None else os.environ.get("HYPOTHESIS_PROFILE", "fast")
    one_of("profile", chosen, tuple(PROFILES))
    settings.load_profile(chosen)
    return chosen


__all__ = ["PROFILES", "load_profile"]
