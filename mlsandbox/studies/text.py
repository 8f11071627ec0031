"""Sentiment from text, two ways, in every framework: the embedding classifier of
TensorFlow's "Word embeddings" tutorial (``textclf``: Embedding(10,000, 16), masked mean,
Dense 16 ReLU, Dense 1) trained side by side with the engine, and TF-IDF features with
logistic regression (our ``TfidfVectorizer``, the classical track's estimator in every
backend, scikit-learn's as the reference).

Data: the IMDB Large Movie Review dataset when ``aclImdb/`` is in the data directory,
else the Rotten Tomatoes sentence polarity files, else the small hand-written corpus that
ships in the package (``--data auto``), so the command always runs.  Reviews become ids
with our tokenizer and a vocabulary of the training reviews' most frequent words (id 0
padding, 1 unknown), padded or cut to ``--seq-len``.  Every framework starts from the
same parameters and sees the same batches in the same order (no dropout by default, so
the runs agree step by step up to float32 rounding).

The report: test accuracy per epoch and framework, time per epoch, the largest step-loss
deviation from the NumPy reference, the loss curves overlaid, the TF-IDF models'
accuracy and fit time per backend (C chosen on a validation split of the training
reviews), and the ten words with the largest positive and negative weights.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

import models
from mlsandbox import engine, machine
from mlsandbox.compare import rel_err
from mlsandbox.studies import common

HELP = "IMDB sentiment: the embedding classifier and TF-IDF + logistic regression, 4 frameworks"

DATASETS = ("auto", "imdb", "rotten_tomatoes", "corpus")


@dataclasses.dataclass
class Config:
    data: str = dataclasses.field(default="auto", metadata={
        "help": "imdb, rotten_tomatoes, corpus (the shipped one) or auto (the first found)",
        "check": lambda v: None if v in DATASETS else f"one of {list(DATASETS)}"})
    data_dir: str = common.data_dir_field()
    backends: str = common.backends_field()
    dtype: str = common.dtype_field()
    seq_len: int = dataclasses.field(default=250, metadata={
        "help": "ids per review (padded or cut at the end)", "check": common.FLAG_RULES["steps"]})
    vocab_size: int = dataclasses.field(default=10000, metadata={
        "help": "vocabulary size, padding and unknown ids included",
        "check": lambda v: None if isinstance(v, int) and v >= 3 else "an integer >= 3"})
    epochs: int = dataclasses.field(default=3, metadata={"help": "epochs of the classifier"})
    batch_size: int = dataclasses.field(default=32, metadata={"help": "batch size"})
    lr: float = dataclasses.field(default=1e-3, metadata={"help": "Adam learning rate"})
    dropout: float = dataclasses.field(default=0.0, metadata={
        "help": "dropout after the pooling (masks differ between frameworks' RNGs)",
        "check": lambda v: None if 0 <= v < 1 else "a number in [0, 1)"})
    train_limit: int = dataclasses.field(default=0, metadata={
        "help": "use only the first N training reviews of each class (0: all)"})
    tfidf: str = dataclasses.field(default="unigrams,bigrams", metadata={
        "help": "TF-IDF feature sets: a comma list of unigrams, bigrams (sublinear tf), "
                "or none",
        "check": lambda v: _tfidf_check(v)})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of params and shuffling"})
    progress: bool = common.progress_field()


#: feature set -> our TfidfVectorizer's parameters (scikit-learn's names)
TFIDF = {"unigrams": {}, "bigrams": {"ngram_range": (1, 2), "sublinear_tf": True}}
GRID_C = (1.0, 3.0, 10.0, 30.0, 100.0)


def _tfidf_sets(text: str) -> tuple[str, ...]:
    return () if text.strip() == "none" else tuple(t.strip() for t in text.split(",")
                                                   if t.strip())


def _tfidf_check(text: str):
    bad = [t for t in _tfidf_sets(text) if t not in TFIDF]
    return f"a comma list of {list(TFIDF)}, or none" if bad else None


def load_texts(data: str, data_dir=None, per_class: int = 0):
    """``(TextDataset, description)``: ``data`` or, for ``auto``, the first of IMDB,
    Rotten Tomatoes and the shipped corpus that is present."""
    from mlsandbox import data as D

    order = ("imdb", "rotten_tomatoes", "corpus") if data == "auto" else (data,)
    for name in order:
        try:
            if name == "imdb":
                ds = D.load_imdb(data_dir, per_class=per_class or None, progress=False)
                return ds, "IMDB (aclImdb)"
            if name == "rotten_tomatoes":
                return D.load_rotten_tomatoes(data_dir), "Rotten Tomatoes sentence polarity"
            return D.load_text_corpus(), "the corpus shipped in the package"
        except D.DataNotFoundError:
            if data != "auto":
                raise
    raise AssertionError("unreachable: the shipped corpus is always there")


def _limit(split, per_class):
    if not per_class:
        return split.texts, split.labels
    keep = np.concatenate([np.flatnonzero(split.labels == c)[:per_class] for c in (0, 1)])
    keep.sort()
    return [split.texts[i] for i in keep], split.labels[keep]


def vectorize(ds, config):
    """Token ids of the train and test texts (our tokenizer and vocabulary)."""
    from mlsandbox.text import Vocabulary

    x, y = _limit(ds.train, config.train_limit)
    xt, yt = ds.test.texts, ds.test.labels
    vocab = Vocabulary.fit(x, max_tokens=config.vocab_size)
    return (vocab, {"x": vocab.encode(x, length=config.seq_len), "y": y.astype(np.int64)},
            {"x": vocab.encode(xt, length=config.seq_len), "y": yt.astype(np.int64)},
            (x, y, xt, yt))


def classifier_config(config) -> dict:
    """The ``textclf`` network's config of the study's ``config``."""
    return {"vocab_size": config.vocab_size, "seq_len": config.seq_len,
            "dropout_rate": config.dropout}


def train_classifiers(config, train, test, backends, log_dir):
    """``{backend: FitResult}`` of the embedding classifier, same params and batches."""
    net_config = classifier_config(config)
    params = models.spec("textclf", **net_config).init(seed=config.seed, dtype=config.dtype)
    return {b: engine.fit("textclf", b, train, test, epochs=config.epochs,
                          batch_size=config.batch_size, optimizer="adam", lr=config.lr,
                          dtype=config.dtype, seed=config.seed, params=params,
                          config=net_config, log_dir=log_dir, progress=config.progress)
            for b in backends}


def fit_tfidf(texts, config, backends, bar=None):
    """Per feature set: the vectorizer's matrices, C chosen on a validation split (every
    fifth training review) by the NumPy estimator, then every backend's and
    scikit-learn's fit on all training reviews: accuracy, fit time, coefficient gap."""
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    from mlsandbox.classical import LogisticRegression
    from mlsandbox.text import TfidfVectorizer

    x, y, xt, yt = texts
    out = {}
    for name in _tfidf_sets(config.tfidf):
        vec = TfidfVectorizer(backend="numpy", **TFIDF[name])
        t0 = time.perf_counter()
        X = vec.fit_transform(x)
        t_vec = time.perf_counter() - t0
        Xt = vec.transform(xt)
        val = np.arange(len(y)) % 5 == 4
        scores = {}
        for C in GRID_C:
            m = LogisticRegression(C=C, backend="numpy").fit(X[~val], y[~val])
            scores[C] = float(np.mean(m.predict(X[val]) == y[val]))
            if bar is not None:
                bar.update(1)
        C = max(GRID_C, key=lambda c: (scores[c], -c))      # ties: the stronger penalty
        fits = {}
        for b in ("sklearn", *backends):
            est = (SkLogisticRegression(C=C, solver="liblinear", tol=1e-10, max_iter=10000)
                   if b == "sklearn" else LogisticRegression(C=C, backend=b))
            t0 = time.perf_counter()
            est.fit(X, y)
            fits[b] = {"seconds": time.perf_counter() - t0,
                       "accuracy": float(np.mean(est.predict(Xt) == yt)),
                       "coef": np.asarray(est.coef_[0]), "intercept": float(est.intercept_[0])}
            if bar is not None:
                bar.update(1)
        ref = fits.get("numpy", fits["sklearn"])
        for f in fits.values():
            f["coef_gap"] = rel_err(f["coef"], ref["coef"])
        words = vec.get_feature_names_out()
        order = np.argsort(ref["coef"], kind="stable")
        out[name] = {"C": C, "validation": scores, "features": X.shape[1],
                     "vectorize_seconds": t_vec, "fits": fits,
                     "top_positive": [(str(words[i]), float(ref["coef"][i]))
                                      for i in order[::-1][:10]],
                     "top_negative": [(str(words[i]), float(ref["coef"][i]))
                                      for i in order[:10]]}
    return out




def _classifier_rows(runs):
    ref = runs.get("numpy")
    rows, metrics = [], {}
    for b, r in runs.items():
        h = r.history
        dev = (max(rel_err(a, w) for a, w in zip(r.step_losses, ref.step_losses))
               if ref is not None else float("nan"))
        s_epoch = float(np.median(h["seconds"][1:] or h["seconds"]))
        rows.append([b, *[f"{100 * a:.2f}%" for a in h["val_accuracy"]], h["loss"][-1],
                     s_epoch, dev])
        metrics[b] = {"history": {k: v for k, v in h.items() if k != "seconds"},
                      "final_test_accuracy": h["val_accuracy"][-1],
                      "max_step_loss_deviation": dev}
    return rows, metrics


def run(config: Config, out_dir) -> Path:
    return common.run_study(write, config, out_dir)


def write(config: Config, report) -> common.Summary:
    """Train the classifier and the TF-IDF models and write the study into ``report``."""
    from tqdm.auto import tqdm

    backends = common.parse_backends(config.backends, "textclf")
    with tqdm(total=1, desc="text: loading data", disable=not config.progress) as bar:
        ds, name = load_texts(config.data, config.data_dir or None, config.train_limit)
        vocab, train, test, texts = vectorize(ds, config)
        bar.update(1)
    title = f"Sentiment from text on {name}"
    report.heading(title, 1)
    runs = train_classifiers(config, train, test, backends, report.path / "tensorboard")
    n_fits = len(_tfidf_sets(config.tfidf)) * (len(GRID_C) + 1 + len(backends))
    with tqdm(total=n_fits, desc="text: TF-IDF + logistic regression",
              disable=not config.progress or not n_fits) as bar:
        tfidf = fit_tfidf(texts, config, backends, bar)
    accs = [r.history["val_accuracy"][-1] for r in runs.values()]
    report.text(
        f"{len(train['y'])} training and {len(test['y'])} test texts from {name}; "
        f"vocabulary of the {len(vocab.tokens) - 2} most frequent training words (id 0 "
        f"padding, 1 unknown; at most {config.vocab_size}), {config.seq_len} ids per "
        f"text. Machine: "
        f"{machine.summary()}.")
    report.heading("The embedding classifier")
    report.text(
        f"Embedding({config.vocab_size}, 16), masked mean, Dense 16 ReLU, Dense 1; "
        f"{config.dtype}, Adam lr {config.lr} (each framework's own: Keras's computes the "
        f"epsilon-hat form, hence its larger step-loss deviation), batch "
        f"{config.batch_size}, {config.epochs} epochs, dropout {config.dropout}, the "
        f"same initial parameters (seed {config.seed}) and batch order everywhere. "
        f"Final test accuracies span {100 * (max(accs) - min(accs)):.2f} points.")
    rows, cls_metrics = _classifier_rows(runs)
    net_config = classifier_config(config)
    batch = {k: v[:config.batch_size] for k, v in train.items()}
    ms = common.step_ms("textclf", net_config,
                        models.spec("textclf", **net_config).init(seed=config.seed,
                                                                  dtype=config.dtype),
                        batch, optimizer="adam", hyper={"lr": config.lr}, backends=backends)
    for row, b in zip(rows, runs):
        row.append(ms[b])
    report.table(["framework", *[f"test acc, epoch {e + 1}" for e in range(config.epochs)],
                  "train loss", "s/epoch", "max step-loss dev vs numpy", "ms/step"], rows)
    report.text("ms/step: the median of two timed pairs of Adam steps on the first batch, "
                "after a compiling pair (s/epoch includes the test evaluation).")
    report.figure("loss_curves.png", common.plot_fit_runs(runs, title), "loss curves overlaid")
    tf_metrics = {}
    for fs, res in tfidf.items():
        report.heading(f"TF-IDF ({fs}) + logistic regression")
        report.text(f"{res['features']} features (our TfidfVectorizer, "
                    f"{TFIDF[fs] or 'scikit-learn defaults'}), vectorized in "
                    f"{res['vectorize_seconds']:.1f} s; C = {res['C']:g} chosen on every "
                    f"fifth training text by the NumPy estimator (validation accuracy "
                    + ", ".join(f"C={c:g}: {100 * a:.2f}%" for c, a in res["validation"].items())
                    + "). scikit-learn: liblinear at tol 1e-10.")
        report.table(["estimator", "test accuracy", "fit s", "max coef gap vs numpy"],
                     [[b, f"{100 * f['accuracy']:.2f}%", f["seconds"], f["coef_gap"]]
                      for b, f in res["fits"].items()])
        report.table(["most positive", "weight", "most negative", "weight"],
                     [[p, pw, n, nw] for (p, pw), (n, nw) in
                      zip(res["top_positive"], res["top_negative"])])
        tf_metrics[fs] = {k: v for k, v in res.items()
                          if k not in ("fits", "vectorize_seconds")}
        tf_metrics[fs]["test_accuracy"] = {b: f["accuracy"] for b, f in res["fits"].items()}
        tf_metrics[fs]["coef_gap"] = {b: f["coef_gap"] for b, f in res["fits"].items()}
    report.metrics({"study": "text", "data": name, "config": dataclasses.asdict(config),
                    "versions": common.versions(backends), "classifier": cls_metrics,
                    "tfidf": tf_metrics})
    accuracy = {"textclf: final test accuracy": {b: r.history["val_accuracy"][-1]
                                                 for b, r in runs.items()}}
    for fs, res in tfidf.items():
        accuracy[f"TF-IDF ({fs}) + logistic regression: test accuracy"] = {
            b: f["accuracy"] for b, f in res["fits"].items()}
    speed = common.Speed("textclf", net_config, batch,
                         f"Adam, batch {config.batch_size} x {config.seq_len} ids", ms,
                         config.dtype)
    return common.Summary(title, name, accuracy, [speed])
