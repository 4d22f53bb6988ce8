"""Workloads built from a model: an LLM training step from a transformer, a parallelism plan
and a GPU, run on a fabric like any workload.

>>> import fabricsim as fs
>>> W = fs.workload
>>> model = W.Transformer.preset("gpt3_175b")
>>> plan = W.Parallelism(tp=8, pp=8, dp=2, microbatch_size=1, global_batch=64, recompute="full")
>>> step = W.training_step(model, plan, gpu="a100_sxm_80gb")
>>> res = fs.Fabric.preset("dgx_a100_cluster", nodes=16).run(step, fidelity="flow")  # doctest: +SKIP
>>> res.step_time_s, res.breakdown, res.model_tflops_per_gpu, res.memory_per_gpu_gib  # doctest: +SKIP
"""

from fabricsim.workload.gpu import GpuSpec
from fabricsim.workload.model import Transformer
from fabricsim.workload.plan import Parallelism
from fabricsim.workload.step import TrainingStep, training_step
from fabricsim.workload.step_result import TrainingStepResult
from fabricsim.workload.trace import Trace, TraceOp, TraceResult
from fabricsim.workload.whole_step import WholeStepResult

__all__ = [
    "GpuSpec",
    "Parallelism",
    "Trace",
    "TraceOp",
    "TraceResult",
    "TrainingStep",
    "TrainingStepResult",
    "Transformer",
    "WholeStepResult",
    "training_step",
]
