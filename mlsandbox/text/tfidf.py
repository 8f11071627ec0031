"""``TfidfVectorizer``: scikit-learn's TF-IDF features, computed in NumPy or JAX.

>>> from mlsandbox.text import TfidfVectorizer
>>> docs = ["a great film", "a dull film", "great great plot"]
>>> vec = TfidfVectorizer(backend="jax", ngram_range=(1, 2), sublinear_tf=True)
>>> X = vec.fit_transform(docs)       # scipy.sparse CSR, float64, rows of unit l2 norm
>>> vec.get_feature_names_out()[:4].tolist()
['dull', 'dull film', 'film', 'great']
>>> X.shape, round(float(X[2].power(2).sum()), 12)
((3, 8), 1.0)

A drop-in for ``sklearn.feature_extraction.text.TfidfVectorizer`` with the parameters
below, their defaults and their meaning; ``vocabulary_``, ``idf_`` and
``get_feature_names_out()`` are scikit-learn's, and so is every entry of the output
(``tests/test_text_tfidf.py``: equal within 1e-12 on the IMDB training reviews, for
unigrams, bigrams, sublinear tf, l1, min_df/max_df/max_features).  It is a scikit-learn
transformer (``BaseEstimator``, ``TransformerMixin``): it clones, pipelines and grid-searches.

Parameters (scikit-learn's, same defaults)
------------------------------------------
backend : {"numpy", "jax"}, default "numpy"
    Where the idf and the weighting run (:mod:`.tfidf_numpy` / :mod:`.tfidf_jax`); the
    tokenizing and counting (:mod:`.counting`) is shared Python/NumPy code.
lowercase : bool, default True
token_pattern : str, default ``r"(?u)\\b\\w\\w+\\b"``
    Tokens are ``re.findall(token_pattern, doc)``; at most one capturing group.
ngram_range : (int, int), default (1, 1)
    Word n-grams with ``min_n <= n <= max_n``, their tokens joined by one space.
max_df, min_df : float in [0, 1] or int >= 1, default 1.0 and 1
    Keep terms whose document frequency is at most ``max_df`` and at least ``min_df``
    (a float is a proportion of the documents).
max_features : int or None, default None
    Then keep the ``max_features`` terms of largest total count.
norm : {"l2", "l1", None}, default "l2"
use_idf, smooth_idf, sublinear_tf : bool, default True, True, False
    ``idf = ln((n + s) / (df + s)) + 1`` with ``s = smooth_idf``; ``tf = 1 + ln(count)``
    if ``sublinear_tf``; see :mod:`.tfidf_numpy` for every formula.

Not supported (scikit-learn's other parameters): ``input`` other than content,
``encoding``/``decode_error`` (bytes are decoded as strict UTF-8, scikit-learn's
default), ``strip_accents``, ``preprocessor``, ``tokenizer``, ``analyzer`` other than
words, ``stop_words``, a fixed ``vocabulary``, ``binary``, ``dtype`` (always float64).

Output: ``scipy.sparse.csr_matrix`` float64 with sorted indices (``csr_array`` when
``sklearn.set_config(sparse_interface="sparray")``), int32 indices while they fit.
"""

from __future__ import annotations

import importlib
import numbers

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_is_fitted

from mlsandbox.text.counting import DEFAULT_TOKEN_PATTERN, NgramCounter

#: backend -> module with ``idf(indices, n_features, n_docs, smooth_idf)`` and
#: ``weight(data, indices, indptr, idf, sublinear_tf, norm)``
WEIGHTING = {
    "numpy": "mlsandbox.text.tfidf_numpy",
    "jax": "mlsandbox.text.tfidf_jax",
}
BACKENDS = tuple(WEIGHTING)

_DF = [Interval(RealNotInt, 0, 1, closed="both"), Interval(numbers.Integral, 1, None,
                                                           closed="left")]


class TfidfVectorizer(TransformerMixin, BaseEstimator):
    """Raw documents -> TF-IDF CSR matrix, as scikit-learn's (see the module docstring)."""

    _parameter_constraints: dict = {
        "backend": [StrOptions(set(BACKENDS))],
        "lowercase": ["boolean"],
        "token_pattern": [str],
        "ngram_range": [tuple],
        "max_df": _DF,
        "min_df": _DF,
        "max_features": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "norm": [StrOptions({"l1", "l2"}), None],
        "use_idf": ["boolean"],
        "smooth_idf": ["boolean"],
        "sublinear_tf": ["boolean"],
    }

    def __init__(self, *, backend="numpy", lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN,
                 ngram_range=(1, 1), max_df=1.0, min_df=1, max_features=None, norm="l2",
                 use_idf=True, smooth_idf=True, sublinear_tf=False):
        self.backend = backend
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.ngram_range = ngram_range
        self.max_df = max_df
        self.min_df = min_df
        self.max_features = max_features
        self.norm = norm
        self.use_idf = use_idf
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf

    # ---------------------------------------------------------------- scikit-learn API

    def fit(self, raw_documents, y=None):
        """Learn the vocabulary and idf of ``raw_documents`` (an iterable of str). Returns self."""
        self.fit_transform(raw_documents)
        return self

    def fit_transform(self, raw_documents, y=None):
        """Learn vocabulary and idf, return the TF-IDF matrix (n_documents, n_features)."""
        self._validate_params()
        self._check_ngram_range()
        docs = _documents(raw_documents)
        counter = NgramCounter(lowercase=self.lowercase, token_pattern=self.token_pattern,
                               ngram_range=tuple(self.ngram_range), min_df=self.min_df,
                               max_df=self.max_df, max_features=self.max_features)
        X = counter.fit_transform(docs)
        names = counter.feature_names()
        self._counter = counter
        self.vocabulary_ = dict(zip(names, range(len(names))))
        if self.use_idf:
            self.idf_ = self._weighting().idf(X.indices, X.shape[1], X.shape[0],
                                              bool(self.smooth_idf))
        return self._weigh(X)

    def transform(self, raw_documents):
        """The TF-IDF matrix of ``raw_documents`` over the fitted vocabulary."""
        check_is_fitted(self, "vocabulary_")
        return self._weigh(self._counter.transform(_documents(raw_documents)))

    def get_feature_names_out(self, input_features=None):
        """The features in column order, an object array of str (scikit-learn's)."""
        check_is_fitted(self, "vocabulary_")
        return np.asarray(self._counter.feature_names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    # ---------------------------------------------------------------- internals

    def _weighting(self):
        return importlib.import_module(WEIGHTING[self.backend])

    def _weigh(self, X: sp.csr_matrix):
        data = self._weighting().weight(X.data, X.indices, X.indptr,
                                        self.idf_ if self.use_idf else None,
                                        bool(self.sublinear_tf), self.norm)
        out = sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape)
        out.has_sorted_indices = True
        if sklearn.get_config().get("sparse_interface", "spmatrix") == "sparray":
            return sp.csr_array(out)
        return out

    def _check_ngram_range(self):
        r = self.ngram_range
        ok = (len(r) == 2 and all(isinstance(n, numbers.Integral) and n >= 1 for n in r))
        if not ok or r[0] > r[1]:
            raise ValueError(f"ngram_range={r!r} is invalid: expected (min_n, max_n) with "
                             "integers 1 <= min_n <= max_n")


def _documents(raw_documents) -> list[str]:
    """The documents as a list of str (bytes decoded as UTF-8), or a clear error."""
    if isinstance(raw_documents, (str, bytes)):
        raise ValueError(f"expected an iterable of raw text documents, got a single "
                         f"{type(raw_documents).__name__}: {raw_documents!r:.60}; "
                         "wrap it in a list")
    try:
        docs = list(raw_documents)
    except TypeError:
        raise TypeError(f"expected an iterable of raw text documents (str), got "
                        f"{type(raw_documents).__name__}") from None
    if all(isinstance(d, str) for d in docs):
        return docs
    out = []
    for i, d in enumerate(docs):
        if isinstance(d, bytes):
            try:
                d = d.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"document {i} is bytes that are not valid UTF-8 ({e})") from e
        elif not isinstance(d, str):
            raise TypeError(f"document {i} is {type(d).__name__} {d!r:.60}; expected a str "
                            "(raw text) or UTF-8 bytes")
        out.append(d)
    return out
