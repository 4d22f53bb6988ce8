"""Transformer models: dense decoders (attention with grouped-query heads, a plain or gated
MLP, embeddings and the vocabulary's projection) and mixture-of-experts layers; presets carry
the published hyperparameters of well-known models, with their sources."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fabricsim.checks import flag, whole_number
from fabricsim.errors import SpecError


@dataclass(frozen=True)
class Transformer:
    """A decoder-only transformer. ``kv_heads`` (None: ``heads``, plain multi-head attention)
    groups the keys and values (GQA); ``ffn_hidden`` (None: ``4 x hidden``) is the MLP's width,
    ``gated_mlp`` a SwiGLU-style MLP (three matrices instead of two). ``experts > 0`` makes the
    MLP of every ``moe_every``-th layer a mixture of ``experts`` experts of ``moe_ffn_hidden``
    (None: ``ffn_hidden``), each token routed to ``top_k`` of them, ``capacity_factor`` the
    token slots per expert over the balanced share. ``dropout``: the layers apply dropout
    (their masks cost memory and time). ``tied_embeddings``: the output projection reuses the
    input embedding. ``rms_norm`` (RMSNorm in place of LayerNorm) and ``rotary`` (rotary
    position embeddings on the queries and keys) matter only to a plan run op by op
    (``Parallelism(elementwise="eager")``), whose kernels for them move more bytes."""

    layers: int
    hidden: int
    heads: int
    seq_len: int
    vocab: int
    kv_heads: int | None = None
    ffn_hidden: int | None = None
    gated_mlp: bool = False
    experts: int = 0
    top_k: int = 1
    capacity_factor: float = 1.0
    moe_ffn_hidden: int | None = None
    moe_every: int = 1
    dropout: bool = False
    tied_embeddings: bool = False
    rms_norm: bool = False
    rotary: bool = False
    name: str = ""
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for f in ("layers", "hidden", "heads", "seq_len", "vocab"):
            whole_number(f"model.{f}", getattr(self, f), 1, 1 << 40)
        heads = self.heads
        kv = whole_number("model.kv_heads", self.kv_heads if self.kv_heads is not None else heads, 1, heads)
        if heads % kv:
            raise SpecError(f"model.kv_heads: must divide heads ({heads}), got {kv}", path="model.kv_heads")
        if self.hidden % heads:
            raise SpecError(
                f"model.heads: must divide hidden ({self.hidden}), got {heads}", path="model.heads"
            )
        object.__setattr__(self, "kv_heads", kv)
        ffn = self.ffn_hidden if self.ffn_hidden is not None else 4 * self.hidden
        object.__setattr__(self, "ffn_hidden", whole_number("model.ffn_hidden", ffn, 1, 1 << 40))
        whole_number("model.experts", self.experts, 0, 1 << 20)
        if self.experts:
            whole_number("model.top_k", self.top_k, 1, self.experts)
            whole_number("model.moe_every", self.moe_every, 1, self.layers)
            moe = self.moe_ffn_hidden if self.moe_ffn_hidden is not None else ffn
            object.__setattr__(self, "moe_ffn_hidden", whole_number("model.moe_ffn_hidden", moe, 1, 1 << 40))
            cf = self.capacity_factor
            if isinstance(cf, bool) or not isinstance(cf, (int, float)) or not 1.0 <= cf <= 64.0:
                raise SpecError(
                    f"model.capacity_factor: must be a number in 1..=64, got {cf!r}",
                    path="model.capacity_factor",
                )
        for f in ("gated_mlp", "dropout", "tied_embeddings", "rms_norm", "rotary"):
            flag(f"model.{f}", getattr(self, f))
        object.__setattr__(self, "sources", tuple(self.sources))

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        """Width of the keys (and of the values): ``kv_heads x head_dim``."""
        assert self.kv_heads is not None
        return self.kv_heads * self.head_dim

    def is_moe_layer(self, i: int) -> bool:
        return self.experts > 0 and (i + 1) % self.moe_every == 0

    @property
    def moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.layers)) if self.experts else 0

    def mlp_params(self, width: int) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * width

    def attention_params(self) -> int:
        h = self.hidden
        return h * (h + 2 * self.kv_dim) + h * h

    def params(self) -> dict[str, int]:
        """Parameters by part: ``attention``, ``dense_mlp``, ``experts`` (all experts),
        ``router``, ``norms``, ``embedding`` and ``output`` (0 when tied)."""
        assert self.ffn_hidden is not None
        moe = self.moe_layers
        dense = self.layers - moe
        experts = moe * self.experts * self.mlp_params(self.moe_ffn_hidden or 0) if moe else 0
        return {
            "attention": self.layers * self.attention_params(),
            "dense_mlp": dense * self.mlp_params(self.ffn_hidden),
            "experts": experts,
            "router": moe * self.hidden * self.experts,
            "norms": self.layers * 2 * self.hidden + self.hidden,
            "embedding": self.vocab * self.hidden,
            "output": 0 if self.tied_embeddings else self.vocab * self.hidden,
        }

    def num_params(self) -> int:
        return sum(self.params().values())

    def active_params(self) -> int:
        """Parameters a token uses (``top_k`` experts of each MoE layer, not all)."""
        p = self.params()
        if not self.experts:
            return sum(p.values())
        return sum(p.values()) - p["experts"] + p["experts"] * self.top_k // self.experts

    def flops_per_token(self) -> float:
        """Training FLOPs per token, forward and backward (3 x forward), attention over the
        full sequence (the convention of PaLM's appendix B, ``6 N + 12 L h s``, with the
        embedding lookup not counted): what model FLOP/s divides."""
        n = self.active_params() - self.params()["embedding"]
        if self.tied_embeddings:
            n += self.vocab * self.hidden  # the tied output projection still multiplies
        return 6.0 * n + 12.0 * self.layers * self.hidden * self.seq_len

    @classmethod
    def preset(cls, name: str) -> Transformer:
        """A published architecture: ``gpt3_175b``, ``megatron_1t``, ``mt_nlg_530b``, ``bloom_176b``,
        ``llama2_7b``, ``llama2_70b``, ``llama3_8b``, ``llama3_70b``, ``llama3_405b``,
        ``mixtral_8x7b``, ``mixtral_8x22b`` (sources on each)."""
        if name not in _PRESETS:
            raise SpecError(
                f"model: unknown preset {name!r}; known: {', '.join(sorted(_PRESETS))}", path="model"
            )
        return _PRESETS[name]

    @staticmethod
    def presets() -> list[str]:
        return sorted(_PRESETS)

    def replace(self, **changes: Any) -> Transformer:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = list(self.sources)
        return d


_LLAMA2 = "Touvron et al., Llama 2, arXiv 2307.09288, Table 1 and section 2.2"
_LLAMA3 = "Llama Team, The Llama 3 Herd of Models, arXiv 2407.21783, Table 3"
_PRESETS: dict[str, Transformer] = {
    "gpt3_175b": Transformer(
        name="gpt3_175b",
        layers=96,
        hidden=12288,
        heads=96,
        seq_len=2048,
        vocab=50257,
        sources=("Brown et al., Language Models are Few-Shot Learners, arXiv 2005.14165, Table 2.1",),
    ),
    "megatron_1t": Transformer(
        name="megatron_1t",
        layers=128,
        hidden=25600,
        heads=160,
        seq_len=2048,
        vocab=51200,
        sources=(
            "Korthikanti et al., Reducing Activation Recomputation in Large Transformer Models, arXiv 2205.05198, Table 3 (1T: 128 layers, hidden 25600, 160 heads)",
        ),
    ),
    "mt_nlg_530b": Transformer(
        name="mt_nlg_530b",
        layers=105,
        hidden=20480,
        heads=128,
        seq_len=2048,
        vocab=50272,
        sources=(
            "Smith et al., Using DeepSpeed and Megatron to Train Megatron-Turing NLG 530B, arXiv 2201.11990, section 2 (105 layers, hidden 20480, 128 heads, sequence 2048)",
        ),
    ),
    "bloom_176b": Transformer(
        name="bloom_176b",
        layers=70,
        hidden=14336,
        heads=112,
        seq_len=2048,
        vocab=250880,
        tied_embeddings=True,
        sources=(
            "BigScience, BLOOM, arXiv 2211.05100, Table 3 (70 layers, hidden 14336, 112 heads, vocab 250,680 padded to 250,880)",
        ),
    ),
    "llama2_7b": Transformer(
        name="llama2_7b",
        layers=32,
        hidden=4096,
        heads=32,
        seq_len=4096,
        vocab=32000,
        ffn_hidden=11008,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        sources=(_LLAMA2,),
    ),
    "llama2_13b": Transformer(
        name="llama2_13b",
        layers=40,
        hidden=5120,
        heads=40,
        seq_len=4096,
        vocab=32000,
        ffn_hidden=13824,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        sources=(_LLAMA2,),
    ),
    "llama2_70b": Transformer(
        name="llama2_70b",
        layers=80,
        hidden=8192,
        heads=64,
        kv_heads=8,
        seq_len=4096,
        vocab=32000,
        ffn_hidden=28672,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        sources=(_LLAMA2,),
    ),
    "llama3_8b": Transformer(
        name="llama3_8b",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        seq_len=8192,
        vocab=128256,
        ffn_hidden=14336,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        sources=(_LLAMA3,),
    ),
    "llama3_70b": Transformer(
        name="llama3_70b",
        layers=80,
        hidden=8192,
        heads=64,
        kv_heads=8,
        seq_len=8192,
        vocab=128256,
        ffn_hidden=28672,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        sources=(_LLAMA3,),
    ),
    "llama3_405b": Transformer(
        name="llama3_405b",
        layers=126,
        hidden=16384,
        heads=128,
        kv_heads=8,
        seq_len=8192,
        vocab=128256,
        ffn_hidden=53248,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        sources=(_LLAMA3,),
    ),
    "mixtral_8x7b": Transformer(
        name="mixtral_8x7b",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        seq_len=4096,
        vocab=32000,
        ffn_hidden=14336,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        experts=8,
        top_k=2,
        sources=("Jiang et al., Mixtral of Experts, arXiv 2401.04088, Table 1",),
    ),
    "mixtral_8x22b": Transformer(
        name="mixtral_8x22b",
        layers=56,
        hidden=6144,
        heads=48,
        kv_heads=8,
        seq_len=4096,
        vocab=32768,
        ffn_hidden=16384,
        gated_mlp=True,
        rms_norm=True,
        rotary=True,
        experts=8,
        top_k=2,
        sources=("https://huggingface.co/mistralai/Mixtral-8x22B-v0.1/blob/main/config.json",),
    ),
}

__all__ = ["Transformer"]
