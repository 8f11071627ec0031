"""BERT without Hugging Face: the spec (config checks, the canonical table, tied weights,
dropout layers with sequence-length masks), the NumPy reference's whole-network gradients
against central finite differences in float64 (eval and train mode with injected masks),
the tanh kernel, the training contract with tied weights (optimizer state, checkpoints)
and ``models.from_pretrained`` on checkpoints written here.

Agreement with Hugging Face transformers and with the torch port: ``parity/test_bert.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import models
from kernels.activations import tanh_backward, tanh_forward
from kernels.transformer import attention_forward
from mlsandbox.compare import assert_close
from mlsandbox.testing.gradcheck import FD_TOL, numeric_grad
from mlsandbox.testing.params import random_params

#: small enough for a finite-difference check of every parameter (about 400 entries)
TINY = dict(vocab_size=7, hidden_size=4, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=6, max_position_embeddings=5, type_vocab_size=2,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
NAMES = ("bert_mlm", "bert_cls")


# -- the spec ------------------------------------------------------------------------------
def test_defaults_are_bertconfig_defaults():
    spec = models.spec("bert_mlm")
    assert (spec.vocab_size, spec.hidden_size, spec.num_hidden_layers, spec.num_attention_heads,
            spec.intermediate_size, spec.max_position_embeddings, spec.type_vocab_size) == \
        (30522, 768, 12, 12, 3072, 512, 2)
    assert spec.layer_norm_eps == 1e-12 and spec.hidden_act == "gelu"
    assert spec.pad_token_id == 0 and spec.initializer_range == 0.02
    assert spec.hidden_dropout_prob == 0.1 and spec.attention_probs_dropout_prob == 0.1
    cls = models.spec("bert_cls")
    assert cls.num_labels == 2 and cls.classifier_dropout is None and cls.n_classes == 2
    assert spec.n_classes == 30522


@pytest.mark.parametrize("bad, match", [
    ({"hidden_act": "gelu_new"}, "tanh approximation"),
    ({"hidden_act": "relu"}, "hidden_act must be 'gelu'"),
    ({"hidden_size": 10, "num_attention_heads": 3}, "not a multiple"),
    ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
    ({"attention_probs_dropout_prob": -0.1}, "attention_probs_dropout_prob"),
    ({"pad_token_id": 7}, "pad_token_id"),
    ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"layer_norm_eps": float("nan")}, "layer_norm_eps"),
    ({"vocab_size": True}, "vocab_size"),
])
def test_bad_configs_refused_by_name(bad, match):
    with pytest.raises(ValueError, match=match):
        models.spec("bert_mlm", **{**TINY, **bad})


@pytest.mark.parametrize("bad, match", [({"num_labels": 1}, "regression"),
                                        ({"classifier_dropout": 1.5}, "classifier_dropout")])
def test_bad_classifier_configs_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        models.spec("bert_cls", **{**TINY, **bad})


def test_table_order_heads_and_tied_names():
    mlm, cls = models.spec("bert_mlm", **TINY), models.spec("bert_cls", **TINY)
    keys = list(mlm.param_shapes())
    assert keys[0] == "bert.embeddings.word_embeddings.weight"
    assert keys[5] == "bert.encoder.layer.0.attention.self.query.weight"
    assert keys[-7:] == ["cls.predictions.bias", "cls.predictions.transform.dense.weight",
                         "cls.predictions.transform.dense.bias",
                         "cls.predictions.transform.LayerNorm.weight",
                         "cls.predictions.transform.LayerNorm.bias",
                         "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]
    assert len(keys) == 5 + 16 * 2 + 7
    assert mlm.param_shapes()["bert.encoder.layer.1.intermediate.dense.weight"] == (6, 4)
    assert mlm.tied() == {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias"}
    assert set(mlm.trainable()) == set(keys) - set(mlm.tied())
    assert list(cls.param_shapes())[-4:] == ["bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                             "classifier.weight", "classifier.bias"]
    assert cls.tied() == {} and cls.trainable() == tuple(cls.param_shapes())


def test_init_is_hugging_faces_rule():
    spec = models.spec("bert_mlm", **{**TINY, "vocab_size": 50, "hidden_size": 8,
                                      "initializer_range": 0.1})
    p = spec.init(seed=3, dtype="float32")
    assert all(v.dtype == np.float32 for v in p.values()) and list(p) == list(spec.param_shapes())
    word = p["bert.embeddings.word_embeddings.weight"]
    assert np.all(word[0] == 0) and abs(word[1:].std() - 0.1) < 0.02
    assert np.all(p["bert.embeddings.LayerNorm.weight"] == 1)
    assert np.all(p["bert.encoder.layer.0.attention.self.query.bias"] == 0)
    assert np.all(p["cls.predictions.bias"] == 0)
    assert np.array_equal(p["cls.predictions.decoder.weight"], word)
    q = spec.init(seed=3, dtype="float32")
    assert all(np.array_equal(p[k], q[k]) for k in p)


def test_tied_copies_must_equal_their_sources():
    spec = models.spec("bert_mlm", **TINY)
    p = random_params(spec)
    bad = {**p, "cls.predictions.decoder.weight": p["cls.predictions.decoder.weight"] + 1}
    with pytest.raises(models.ContractError, match="tied parameters differ"):
        models.get("bert_mlm", "numpy", **TINY).forward(bad, spec.example(2))
    assert np.array_equal(spec.tie(bad)["cls.predictions.decoder.weight"],
                          p["bert.embeddings.word_embeddings.weight"])


def test_examples_and_batch_checks():
    spec = models.spec("bert_mlm", **{**TINY, "max_position_embeddings": 9})
    b = spec.example(n=6, seed=1)
    assert b["input_ids"].shape == b["y"].shape == (6, 9)
    mask = b["attention_mask"]
    assert np.all(mask[:, 0] == 1) and np.all(np.diff(mask, axis=1) <= 0)   # padding at the end
    assert np.all((b["input_ids"] == 0) == (mask == 0))                        # pad id = padding
    assert np.all(b["token_type_ids"][mask == 0] == 0) and b["token_type_ids"].max() == 1
    assert np.all((b["y"] == -100) | (mask == 1)) and np.all((b["y"] != -100).sum(1) >= 1)
    assert spec.example(2, length=3)["input_ids"].shape == (2, 3)
    net = models.get("bert_mlm", "numpy", **{**TINY, "max_position_embeddings": 9})
    p = spec.init(0)
    long = spec.example(1, length=9)
    long = {k: np.concatenate([v, v], axis=1) for k, v in long.items()}
    with pytest.raises(models.ContractError, match="max_position_embeddings = 9"):
        net.forward(p, long)
    for key, value, match in [("token_type_ids", 2, r"outside \[0, 2\)"),
                              ("attention_mask", 2, r"outside \[0, 2\)"),
                              ("input_ids", 7, r"outside \[0, 7\)")]:
        bad = {k: v.copy() for k, v in b.items()}
        bad[key][0, 0] = value
        with pytest.raises(models.ContractError, match=match):
            net.forward(p, bad)


def test_dropout_layers_and_sequence_length_masks():
    spec = models.spec("bert_cls", **{**TINY, "hidden_dropout_prob": 0.1,
                                      "attention_probs_dropout_prob": 0.2})
    rates = spec.dropout()
    assert list(rates)[:4] == ["bert.embeddings.dropout",
                               "bert.encoder.layer.0.attention.self.dropout",
                               "bert.encoder.layer.0.attention.output.dropout",
                               "bert.encoder.layer.0.output.dropout"]
    assert rates["dropout"] == 0.1 and len(rates) == 1 + 3 * 2 + 1
    assert spec.mask_shape("bert.embeddings.dropout") == (None, 4)
    assert spec.mask_shape("bert.encoder.layer.1.attention.self.dropout") == (2, None, None)
    masks = spec.masks(3, seed=0, length=5)
    assert masks["bert.encoder.layer.1.attention.self.dropout"].shape == (3, 2, 5, 5)
    assert masks["dropout"].shape == (3, 4)
    with pytest.raises(models.ContractError, match="length="):
        spec.masks(3)
    net = models.get("bert_cls", "numpy", **spec.config())
    batch = {**spec.example(3, length=4), "masks": {"bert.embeddings.dropout": np.ones((3, 5, 4))}}
    with pytest.raises(models.ContractError, match=r"expected \(3, 4, 4\)"):
        net.forward(spec.init(0), batch, train=True)
    assert models.spec("bert_cls", **{**TINY, "hidden_dropout_prob": 0.1,
                                      "classifier_dropout": 0.0}).dropout().get("dropout") is None


# -- kernels the reference adds ------------------------------------------------------------
def test_tanh_gradcheck():
    rng = np.random.default_rng(0)
    x, w = 2 * rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    y, cache = tanh_forward(x)
    assert np.array_equal(y, np.tanh(x))
    assert_close(tanh_backward(w, cache), numeric_grad(lambda z: (np.tanh(z) * w).sum(), x),
                 FD_TOL, "tanh gradient")
    assert tanh_forward(np.float32([1.0]))[0].dtype == np.float32


def test_composed_attention_equals_the_attention_kernel():
    """Without dropout, the reference's attention (softmax and dropout kernels between the
    products) is :func:`kernels.transformer.attention_forward`."""
    net = models.get("bert_mlm", "numpy", **TINY)
    spec = net.spec
    rng = np.random.default_rng(1)
    p = random_params(spec)
    x = rng.standard_normal((2, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    from kernels.transformer import attention_mask_bias, split_heads_forward

    ctx, _ = net.attention_forward(p, x, attention_mask_bias(mask, x.dtype), None,
                                   "bert.encoder.layer.0.")
    pre = "bert.encoder.layer.0.attention.self."
    q, k, v = (split_heads_forward(x @ p[f"{pre}{m}.weight"].T + p[f"{pre}{m}.bias"], 2)[0]
               for m in ("query", "key", "value"))
    want, _ = attention_forward(q, k, v, mask)
    assert_close(ctx, want.transpose(0, 2, 1, 3).reshape(2, 5, 4), 1e-14, "attention")


# -- the whole network's gradients -----------------------------------------------------------
def _loss_fn(net, params, batch, key, train):
    spec = net.spec

    def f(x):
        p = spec.tie({**params, key: x})
        return net.loss_and_grads(p, batch, train=train)[0]
    return f


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train-masks"])
@pytest.mark.parametrize("name", NAMES)
def test_whole_network_gradcheck(name, train):
    """Every trainable parameter, float64 central differences; in train mode with dropout
    on every layer and injected masks (so the function is deterministic)."""
    config = {**TINY, "num_labels": 3} if name == "bert_cls" else dict(TINY)
    if train:
        config.update(hidden_dropout_prob=0.25, attention_probs_dropout_prob=0.3)
    net = models.get(name, "numpy", **config)
    spec = net.spec
    params = random_params(spec, seed=2)
    batch = spec.example(n=2, seed=4, length=4)
    batch["input_ids"][0, 1] = 0                      # the padding id at an attended position
    if train:
        batch["masks"] = spec.masks(2, seed=5, length=4)
    _, grads = net.loss_and_grads(params, batch, train=train)
    assert list(grads) == list(spec.trainable())
    for k in spec.trainable():
        want = numeric_grad(_loss_fn(net, params, batch, k, train), params[k])
        if k == "bert.embeddings.word_embeddings.weight":
            # torch's padding_idx: the lookup gives the padding row no gradient although the
            # loss reads it where the padding id is attended; not a derivative, a convention
            # (test_word_embedding_gradient_is_lookup_plus_decoder, parity/test_bert.py)
            keep = np.arange(spec.vocab_size) != spec.pad_token_id
            grads[k], want = grads[k][keep], want[keep]
        assert_close(grads[k], want, FD_TOL, f"{name} d loss / d {k}")


def test_word_embedding_gradient_is_lookup_plus_decoder():
    """The padding row gets no gradient from the lookup (bert_cls shows it: 0 exactly) but
    the tied decoder's in bert_mlm (nonzero)."""
    for name in NAMES:
        net = models.get(name, "numpy", **TINY)
        params = random_params(net.spec, seed=6)
        batch = net.spec.example(n=3, seed=7, length=5)
        batch["input_ids"][:, 1] = 0
        row = net.loss_and_grads(params, batch)[1]["bert.embeddings.word_embeddings.weight"][0]
        assert np.all(row == 0) if name == "bert_cls" else np.any(row != 0)


# -- training, optimizer state and checkpoints with tied weights -------------------------------
def test_training_keeps_tied_copies_equal_and_checkpoints_resume(tmp_path):
    config = {**TINY, "hidden_dropout_prob": 0.1}
    net = models.get("bert_mlm", "numpy", **config)
    spec = net.spec
    params = random_params(spec, seed=1)
    batches = [spec.example(4, seed=s, length=5) for s in range(4)]
    p2, losses, state = net.train(params, batches[:2], "adam", lr=0.01, seed=3,
                                  return_opt_state=True)
    assert losses.shape == (2,) and np.all(np.isfinite(losses))
    for copy, source in spec.tied().items():
        assert np.array_equal(p2[copy], p2[source])
        assert not np.array_equal(p2[source], params[source])
        assert f"adam/mu/{source}" in state and f"adam/mu/{copy}" not in state
    path = models.save_checkpoint(tmp_path / "bert.safetensors", p2, spec=spec, opt_state=state)
    loaded, opt, _ = models.load_checkpoint(path, spec)
    p4, l4 = net.train(loaded, batches[2:], "adam", lr=0.01, seed=3, opt_state=opt)
    whole, lw = net.train(params, batches, "adam", lr=0.01, seed=3)
    assert_close(np.concatenate([losses, l4]), lw, 1e-12, "resumed losses")
    assert_close(p4, whole, 1e-12, "resumed params")


def test_encode_outputs():
    for name in NAMES:
        net = models.get(name, "numpy", **TINY)
        params = random_params(net.spec)
        batch = {k: v for k, v in net.spec.example(3, length=4).items() if k != "y"}
        out = net.encode(params, batch)
        assert out["last_hidden_state"].shape == (3, 4, 4)
        assert ("pooler_output" in out) == (name == "bert_cls")
        if name == "bert_cls":
            assert out["pooler_output"].shape == (3, 4)
            assert np.all(np.abs(out["pooler_output"]) <= 1)


# -- models.from_pretrained on files written here -----------------------------------------------
def _write(path, tensors, config=None):
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
              str(path / "model.safetensors"))
    if config is not None:
        (path / "config.json").write_text(json.dumps(config))
    return path


def _bertmodel_file(spec, seed=0):
    """A BertModel-style checkpoint (no ``bert.`` prefix, the legacy position_ids buffer,
    a pooler, no heads), as all-MiniLM-L6-v2's."""
    cls_spec = models.spec("bert_cls", **{k: v for k, v in spec.config().items()
                                          if k in models.spec("bert_mlm").config()})
    params = random_params(cls_spec, seed=seed, dtype="float32")
    out = {k[len("bert."):]: v for k, v in params.items() if k.startswith("bert.")}
    out["embeddings.position_ids"] = np.arange(spec.max_position_embeddings)[None]
    return out


HF_CONFIG = {"architectures": ["BertModel"], "model_type": "bert", "use_cache": True,
             "position_embedding_type": "absolute", "transformers_version": "4.8.2",
             **{k: v for k, v in TINY.items()}}


def test_from_pretrained_bertmodel_directory(tmp_path):
    spec = models.spec("bert_mlm", **TINY)
    tensors = _bertmodel_file(spec)
    d = _write(tmp_path / "m", tensors, HF_CONFIG)
    pre = models.from_pretrained("bert_mlm", d, dtype="float64", seed=5)
    assert pre.net.backend == "numpy" and pre.net.spec == spec
    assert pre.unused == ("bert.pooler.dense.bias", "bert.pooler.dense.weight")
    assert pre.initialized == tuple(k for k in spec.param_shapes()
                                    if k.startswith("cls.") and k not in spec.tied())
    assert pre.params["bert.encoder.layer.1.output.dense.weight"].dtype == np.float64
    np.testing.assert_array_equal(pre.params["bert.embeddings.word_embeddings.weight"],
                                  tensors["embeddings.word_embeddings.weight"])
    init = spec.init(seed=5, dtype="float64", names=pre.initialized)
    assert list(init) == list(pre.initialized)
    for k in pre.initialized:
        np.testing.assert_array_equal(pre.params[k], init[k])
    assert np.array_equal(pre.params["cls.predictions.decoder.weight"],
                          pre.params["bert.embeddings.word_embeddings.weight"])
    cls = models.from_pretrained("bert_cls", d, num_labels=3)
    assert cls.initialized == ("classifier.weight", "classifier.bias") and cls.unused == ()
    assert cls.params["classifier.weight"].shape == (3, 4)
    assert cls.params["bert.pooler.dense.weight"].dtype == np.float32
    single = models.from_pretrained("bert_cls", d / "model.safetensors")   # config beside it
    assert single.net.spec == cls.net.spec.__class__(**{**cls.net.spec.config(), "num_labels": 2})


def test_from_pretrained_file_without_config_takes_the_keywords(tmp_path):
    spec = models.spec("bert_mlm", **TINY)
    d = _write(tmp_path / "bare", _bertmodel_file(spec))
    with pytest.raises(models.ContractError, match="has shape"):       # BERT-base defaults
        models.from_pretrained("bert_mlm", d / "model.safetensors")
    pre = models.from_pretrained("bert_mlm", d / "model.safetensors", **TINY)
    assert pre.net.spec == spec


def test_from_pretrained_refusals(tmp_path):
    spec = models.spec("bert_mlm", **TINY)
    good = _bertmodel_file(spec)
    missing = {k: v for k, v in good.items() if k != "encoder.layer.1.output.LayerNorm.bias"}
    d = _write(tmp_path / "missing", missing, HF_CONFIG)
    with pytest.raises(models.ContractError, match="bert.encoder.layer.1.output.LayerNorm.bias"):
        models.from_pretrained("bert_mlm", d)
    shaped = {**good, "encoder.layer.0.intermediate.dense.weight": np.zeros((6, 5), np.float32)}
    d = _write(tmp_path / "shaped", shaped, HF_CONFIG)
    with pytest.raises(models.ContractError, match=r"'bert.encoder.layer.0.intermediate"
                                                   r".dense.weight' has shape \(6, 5\)"):
        models.from_pretrained("bert_mlm", d)
    mlm = {"bert." + k: v for k, v in good.items()}
    mlm.update({k: v for k, v in random_params(spec, dtype="float32").items()
                if k.startswith("cls.")})
    mlm["cls.predictions.decoder.weight"] = mlm["cls.predictions.decoder.weight"] + 1
    d = _write(tmp_path / "untied", mlm, HF_CONFIG)
    with pytest.raises(models.ContractError, match="differs from 'bert.embeddings.word_embed"):
        models.from_pretrained("bert_mlm", d)
    part = {k: v for k, v in mlm.items() if k != "cls.predictions.transform.dense.bias"}
    part.pop("cls.predictions.decoder.weight")
    d = _write(tmp_path / "part", part, HF_CONFIG)
    with pytest.raises(models.ContractError, match="cls.predictions.transform.dense.bias"):
        models.from_pretrained("bert_mlm", d)
    for key, value in [("is_decoder", True), ("position_embedding_type", "relative_key"),
                       ("model_type", "roberta"), ("tie_word_embeddings", False)]:
        d = _write(tmp_path / key, good, {**HF_CONFIG, key: value})
        with pytest.raises(models.ContractError, match=key):
            models.from_pretrained("bert_mlm", d)
    (tmp_path / "pickle").mkdir()
    (tmp_path / "pickle" / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(models.ContractError, match="pickle"):
        models.from_pretrained("bert_mlm", tmp_path / "pickle")
    with pytest.raises(FileNotFoundError, match="no such file"):
        models.from_pretrained("bert_mlm", tmp_path / "nowhere")
    with pytest.raises(NotImplementedError, match="mlp reads no pretrained"):
        models.from_pretrained("mlp", tmp_path)


def test_from_pretrained_full_mlm_checkpoint_without_tied_copies(tmp_path):
    """A BertForMaskedLM file as save_pretrained writes it (tied copies left out, an
    NSP head of BertForPreTraining beside it): nothing initialised, copies tied."""
    spec = models.spec("bert_mlm", **TINY)
    params = random_params(spec, seed=9, dtype="float32")
    stored = {k: v for k, v in params.items() if k not in spec.tied()}
    stored["cls.seq_relationship.weight"] = np.zeros((2, 4), np.float32)
    d = _write(tmp_path / "mlm", stored, HF_CONFIG)
    pre = models.from_pretrained("bert_mlm", d)
    assert pre.initialized == () and pre.unused == ("cls.seq_relationship.weight",)
    for k in params:
        np.testing.assert_array_equal(pre.params[k], params[k])
