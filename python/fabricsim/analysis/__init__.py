"""Analysis over many runs: parameter sweeps (:mod:`fabricsim.analysis.sweep`: latency
against load, collectives over sizes and algorithms, loaded-latency curves) and their figures
(:mod:`fabricsim.analysis.plots`). ``fs.sweep`` is :mod:`fabricsim.analysis.sweep`."""

from fabricsim.analysis import plots, sweep

__all__ = ["plots", "sweep"]
