"""Text benchmarks: word ids for the sequence models, TF-IDF features for linear ones.

    pytest bench/bench_text.py --benchmark-only --benchmark-group-by=group

Groups (each holds every implementation, so one table compares them):

* ``text-vectorize``: the 50,000 IMDB reviews (train + test) to int64 ids ``(50000, 250)``
  with a 20,000-token vocabulary fitted on the training reviews.
  ``ours``: :meth:`Vocabulary.encode` (vocabulary fitted outside the timed call);
  ``ours-with-fit``: ``Vocabulary.fit(train)`` plus ``encode`` (fit included);
  ``keras``: ``TextVectorization(standardize=tf_standardize, split="whitespace",
  output_sequence_length=250, vocabulary=ours)`` called on one string tensor (no adapt:
  the vocabulary is given; the same ids as ours, ``tests/test_text_vocab.py``);
  ``keras-with-adapt``: Keras's own defaults (``lower_and_strip_punctuation``), ``adapt``
  on the training reviews included; ``sklearn-count``: ``CountVectorizer(max_features=
  20000).fit_transform`` of the 50,000 reviews, the scikit-learn peer (a sparse count
  matrix rather than sequences; fit included).
* ``tfidf-fit-transform``: ``fit_transform`` of the 25,000 training reviews with the
  default parameters (unigrams, l2, smooth idf): ``ours-numpy``, ``ours-jax``, ``sklearn``.
* ``tfidf-fit-transform-bigrams``: the same with ``ngram_range=(1, 2)`` (1.5 M features).

Without IMDB (no ``shared/data`` and no ``$MLSANDBOX_DATA``) the shipped corpus
(:func:`mlsandbox.data.load_text_corpus`) is repeated to the same number of texts, and
``extra_info["data"]`` says so.  With ``--benchmark-disable`` (CI) every body runs once
on 400 texts.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import harness
from mlsandbox.testing.shared import shared_root
from mlsandbox.text import TfidfVectorizer, Vocabulary, tf_standardize

LENGTH, MAX_TOKENS = 250, 20_000
SMALL = 400   # texts per body when benchmarks are disabled


@pytest.fixture(scope="module")
def reviews():
    """``(train, test, description)``: IMDB's 25,000 + 25,000 reviews, or the stand-in."""
    from mlsandbox.data import DataNotFoundError, load_imdb, load_text_corpus

    for data_dir in (None, shared_root() / "data"):
        try:
            ds = load_imdb(data_dir, progress=False)
        except DataNotFoundError:
            continue
        return ds.x_train, ds.x_test, "IMDB train 25,000 + test 25,000 reviews"
    corpus = load_text_corpus()
    texts = corpus.x_train + corpus.x_test
    many = [texts[i % len(texts)] for i in range(25_000)]
    return many, many, ("no IMDB found: the shipped 300-sentence corpus repeated to "
                        "25,000 + 25,000 texts (short texts: not comparable with IMDB)")


def _subset(benchmark, texts):
    return texts if benchmark.enabled else texts[: SMALL // 2] + texts[-(SMALL // 2):]


def _run(benchmark, fn, group, backend, data, rounds, **info):
    """Time ``fn`` (warmed up once first when enabled) under ``group``."""
    benchmark.group = group
    benchmark.extra_info.update(harness.machine_info(backend), data=data, **info)
    if benchmark.enabled:
        fn()                     # imports, first-call compilation (JAX, tf.function)
    return benchmark.pedantic(fn, rounds=rounds if benchmark.enabled else 1, iterations=1)


# ---------------------------------------------------------------------- text-vectorize

VECTORIZERS = ["ours", "ours-with-fit", pytest.param("keras", marks=pytest.mark.keras),
               pytest.param("keras-with-adapt", marks=pytest.mark.keras), "sklearn-count"]


@pytest.mark.parametrize("name", VECTORIZERS)
def test_text_vectorize(benchmark, name, reviews):
    train, test, data = reviews
    train, test = _subset(benchmark, train), _subset(benchmark, test)
    texts = train + test
    backend = "keras" if name.startswith("keras") else "numpy"
    info = dict(texts=len(texts), length=LENGTH, max_tokens=MAX_TOKENS)
    if name == "ours":
        vocab = Vocabulary.fit(train, max_tokens=MAX_TOKENS)
        fn = lambda: vocab.encode(texts, LENGTH)                       # noqa: E731
        info["timed"] = "encode only (vocabulary fitted on train outside the timed call)"
    elif name == "ours-with-fit":
        def fn():
            return Vocabulary.fit(train, max_tokens=MAX_TOKENS).encode(texts, LENGTH)
        info["timed"] = "Vocabulary.fit(train) + encode(train + test)"
    elif name.startswith("keras"):
        from models.frameworks import load_keras

        keras, tf = load_keras()
        strings = tf.constant(texts)
        if name == "keras":
            vocab = Vocabulary.fit(train, max_tokens=MAX_TOKENS)
            layer = keras.layers.TextVectorization(
                standardize=tf_standardize, split="whitespace",
                output_sequence_length=LENGTH, vocabulary=vocab.tokens[2:])
            fn = lambda: layer(strings).numpy()                          # noqa: E731
            info["timed"] = "the layer call on one string tensor (vocabulary given: no adapt)"
        else:
            train_strings = tf.constant(train)

            def fn():
                layer = keras.layers.TextVectorization(max_tokens=MAX_TOKENS,
                                                       output_sequence_length=LENGTH)
                layer.adapt(train_strings)
                return layer(strings).numpy()
            info["timed"] = "adapt(train) + call (Keras's default standardization)"
    else:
        from sklearn.feature_extraction.text import CountVectorizer

        fn = lambda: CountVectorizer(max_features=MAX_TOKENS).fit_transform(texts)  # noqa: E731
        info["timed"] = "CountVectorizer(max_features=20000).fit_transform (sparse counts)"
    out = _run(benchmark, fn, "text-vectorize", backend, data, rounds=3, **info)
    assert out.shape[0] == len(texts)


# ----------------------------------------------------------------- tfidf-fit-transform

TFIDF = ["ours-numpy", pytest.param("ours-jax", marks=pytest.mark.jax), "sklearn"]


def _tfidf(name, **params):
    if name == "sklearn":
        from sklearn.feature_extraction.text import TfidfVectorizer as SkTfidfVectorizer

        return SkTfidfVectorizer(**params)
    return TfidfVectorizer(backend=name.removeprefix("ours-"), **params)


@pytest.mark.parametrize("name", TFIDF)
@pytest.mark.parametrize("ngrams", [(1, 1), (1, 2)], ids=["unigrams", "bigrams"])
def test_tfidf_fit_transform(benchmark, name, ngrams, reviews):
    train = _subset(benchmark, reviews[0])
    group = "tfidf-fit-transform" + ("-bigrams" if ngrams == (1, 2) else "")
    backend = "jax" if name == "ours-jax" else "numpy"
    info = dict(texts=len(train), ngram_range=list(ngrams),
                timed="fit_transform of the training reviews (default parameters)")
    if name == "sklearn":
        import sklearn

        info["sklearn"] = sklearn.__version__
    X = _run(benchmark, lambda: _tfidf(name, ngram_range=ngrams).fit_transform(train), group,
             backend, reviews[2], rounds=5 if ngrams == (1, 1) else 3, **info)
    benchmark.extra_info.update(n_features=int(X.shape[1]), nnz=int(X.nnz))
    assert X.shape[0] == len(train) and np.isfinite(X.data).all()
