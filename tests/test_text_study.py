"""``mlsandbox study text`` end to end: on the corpus that ships in the package (so it
always runs), and its fallback order when IMDB or Rotten Tomatoes are missing.  The full
IMDB run and its numbers are in the README and docs/text.md."""

from __future__ import annotations

import json

import pytest

from mlsandbox.studies import discover, text


def test_the_text_study_is_discovered():
    assert "text" in discover()


@pytest.mark.parametrize("present, want", [
    ((), "the corpus shipped in the package"),
    (("rt-polaritydata",), "Rotten Tomatoes sentence polarity"),
])
def test_auto_takes_the_first_dataset_present(present, want, shared_data, tmp_path):
    for name in present:
        (tmp_path / name).symlink_to(shared_data / name)
    _, name = text.load_texts("auto", tmp_path)
    assert name == want


def test_a_named_dataset_that_is_missing_is_an_error(tmp_path):
    from mlsandbox.data import DataNotFoundError

    with pytest.raises(DataNotFoundError):
        text.load_texts("imdb", tmp_path)


def test_text_study_on_the_shipped_corpus(tmp_path):
    """All four frameworks from the same parameters and batches: in float64 JAX and torch
    follow the NumPy reference step by step (Keras's own Adam is the epsilon-hat form and
    parts by more, docs/conventions.md); the TF-IDF models of every backend find the same
    coefficients as the NumPy one, and the report lists the top words."""
    config = text.Config(data="corpus", epochs=3, lr=0.02, dtype="float64",
                         tfidf="unigrams", progress=False)
    out = text.run(config, tmp_path / "report")
    md = (out / "report.md").read_text()
    assert "Sentiment from text on the corpus shipped in the package" in md
    assert "TF-IDF (unigrams) + logistic regression" in md
    assert (out / "loss_curves.png").stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    cls = metrics["classifier"]
    assert set(cls) == {"numpy", "jax", "torch", "keras"}
    for b in ("jax", "torch"):
        assert cls[b]["max_step_loss_deviation"] < 1e-10
        assert cls[b]["history"]["val_accuracy"] == cls["numpy"]["history"]["val_accuracy"]
    assert len(cls["keras"]["history"]["loss"]) == 3
    tf = metrics["tfidf"]["unigrams"]
    assert tf["C"] in text.GRID_C
    for b in ("jax", "torch", "keras"):
        assert tf["coef_gap"][b] < 1e-6
    assert len(tf["top_positive"]) == len(tf["top_negative"]) == 10
    assert tf["top_positive"][0][1] > 0 > tf["top_negative"][0][1]
