"""``mlsandbox.text.TfidfVectorizer`` against scikit-learn's, entry by entry, in both backends.

The reference is ``sklearn.feature_extraction.text.TfidfVectorizer`` with the same
parameters: the vocabulary (``vocabulary_``, ``get_feature_names_out``), ``idf_`` and the
CSR matrix must agree within 1e-12 (tf-idf values are at most 1, so absolute), on IMDB
training reviews (2,000 or 600 here, all 25,000 in the slow tests), on a corpus of awkward
documents, and on random documents (hypothesis).

scikit-learn's ``check_estimator`` runs only ``check_estimator_cloneable`` for a
transformer of raw text (its checks feed numeric 2-D arrays; scikit-learn skips its own
text vectorizers the same way).  :data:`APPLICABLE_CHECKS` are the checks that do not
need numeric input, run one by one; the rest of the contract (fit returns self, fit does
not change parameters, idempotent fit, unfitted errors, subset invariance) is tested
below on raw text.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
import sklearn.utils.estimator_checks as checks
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer as SkTfidf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from mlsandbox.compare import assert_close
from mlsandbox.text import BACKENDS, TfidfVectorizer

TOL = 1e-12
BACKEND_PARAMS = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS]

#: (id, parameters, training reviews) compared with scikit-learn
VARIANTS = [
    ("defaults", {}, 2000),
    ("bigrams-sublinear", dict(ngram_range=(1, 2), sublinear_tf=True), 2000),
    ("df-limits", dict(min_df=5, max_df=0.5), 2000),
    ("max-features", dict(max_features=2000, ngram_range=(1, 2)), 600),
    ("int-max-df-l1", dict(min_df=0.001, max_df=300, norm="l1", smooth_idf=False), 600),
    ("trigrams-no-idf", dict(ngram_range=(2, 3), use_idf=False, norm=None, max_features=5000),
     600),
    ("case-kept", dict(lowercase=False, ngram_range=(1, 2)), 600),
]
PARAMS = {name: params for name, params, _ in VARIANTS}

#: scikit-learn checks that apply to a raw-text transformer (no numeric X needed)
APPLICABLE_CHECKS = [
    "check_no_attributes_set_in_init", "check_parameters_default_constructible",
    "check_get_params_invariance", "check_set_params", "check_estimator_repr",
    "check_estimator_cloneable", "check_estimator_tags_renamed", "check_valid_tag_types",
    "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
    "check_param_validation", "check_get_feature_names_out_error",
]

AWKWARD = [
    "Good a movie, a GOOD movie!",   # one-letter words are not tokens: "good movie" is a bigram
    "",
    "x y z",
    "naïve café ÉTÉ über_alles 12 3",
    "the the the",
    "a_b a-b a.b",
    "日本語 テキスト",
    "\u00a0nbsp\u2028sep\x85nel",
    "good movie good plot",
]


@pytest.fixture
def slow_selected(request):
    """Skip unless slow tests were asked for (``-m slow`` or ``MLSANDBOX_SLOW=1``)."""
    if "slow" not in (request.config.getoption("markexpr") or "") and \
            not os.environ.get("MLSANDBOX_SLOW"):
        pytest.skip("slow (the full IMDB train set): run with -m slow or MLSANDBOX_SLOW=1")


def assert_same(ours, theirs):
    """Same shape and sparsity pattern (scikit-learn's indices sorted first), data within TOL."""
    assert sp.issparse(ours) and ours.format == "csr" and ours.dtype == np.float64
    theirs = theirs.copy()
    theirs.sort_indices()
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    assert_close(ours.data, theirs.data, TOL, "tf-idf values")


def assert_same_fit(ours: TfidfVectorizer, sk: SkTfidf):
    assert ours.vocabulary_ == sk.vocabulary_
    np.testing.assert_array_equal(ours.get_feature_names_out(), sk.get_feature_names_out())
    if sk.use_idf:
        assert_close(ours.idf_, sk.idf_, TOL, "idf_")
    else:
        assert not hasattr(ours, "idf_")


@pytest.fixture(scope="module")
def imdb_2000(shared_data):
    from mlsandbox.data import load_imdb

    train = load_imdb(shared_data, split="train", per_class=1000)
    test = load_imdb(shared_data, split="test", per_class=100)
    return train.texts, test.texts


@pytest.fixture(scope="module")
def sklearn_fits(imdb_2000):
    """scikit-learn's fit, fit_transform and transform(test) per variant, computed once."""
    train, test = imdb_2000
    out = {}
    for name, params, n in VARIANTS:
        docs = train[:n // 2] + train[-(n // 2):]   # both classes
        sk = SkTfidf(**params)
        out[name] = (docs, sk, sk.fit_transform(docs), sk.transform(test))
    return out


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("variant", list(PARAMS))
def test_equals_sklearn_on_imdb(variant, backend, imdb_2000, sklearn_fits):
    docs, sk, X_sk, T_sk = sklearn_fits[variant]
    ours = TfidfVectorizer(backend=backend, **PARAMS[variant])
    X = ours.fit_transform(docs)
    test = imdb_2000[1]
    assert_same_fit(ours, sk)
    assert_same(X, X_sk)
    assert_same(ours.transform(test), T_sk)


@pytest.mark.slow
@pytest.mark.usefixtures("slow_selected")
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("variant", ["defaults", "bigrams-sublinear", "max-features"])
def test_equals_sklearn_on_all_imdb_train(variant, backend, shared_data):
    from mlsandbox.data import load_imdb

    ds = load_imdb(shared_data)
    params = PARAMS[variant]
    sk = SkTfidf(**params)
    ours = TfidfVectorizer(backend=backend, **params)
    assert_same(ours.fit_transform(ds.x_train), sk.fit_transform(ds.x_train))
    assert_same_fit(ours, sk)
    assert_same(ours.transform(ds.x_test[::50]), sk.transform(ds.x_test[::50]))


AWKWARD_VARIANTS = [
    {}, dict(ngram_range=(1, 3)), dict(ngram_range=(2, 2)), dict(lowercase=False),
    dict(token_pattern=r"(?u)\b(\w+)\b", ngram_range=(1, 2)),   # one group, one letter words
    dict(token_pattern=r"[^,]+", ngram_range=(1, 2)),            # tokens with spaces
    dict(token_pattern=r"\w*", ngram_range=(1, 2)),              # empty tokens
    dict(token_pattern=r"\S+", ngram_range=(1, 2)),
    dict(max_features=3), dict(min_df=2), dict(max_df=1),
    dict(norm=None, use_idf=False, sublinear_tf=True),
]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("params", AWKWARD_VARIANTS, ids=repr)
def test_equals_sklearn_on_awkward_documents(params, backend):
    sk = SkTfidf(**params)
    ours = TfidfVectorizer(backend=backend, **params)
    assert_same(ours.fit_transform(AWKWARD), sk.fit_transform(AWKWARD))
    assert_same_fit(ours, sk)
    assert_same(ours.transform(AWKWARD[::-1] + ["unseen words only"]),
                sk.transform(AWKWARD[::-1] + ["unseen words only"]))


WORDS = ["a", "b", "ab", "ba", "good", "Bad", "é", "éé", "_", "1", "12", "x!", "y.", "İ"]


@settings(max_examples=60, deadline=None)
@given(docs=st.lists(st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
                     min_size=1, max_size=30),
       ngram_range=st.sampled_from([(1, 1), (1, 2), (2, 3)]),
       max_features=st.sampled_from([None, 1, 4]),
       pattern=st.sampled_from([r"(?u)\b\w\w+\b", r"\S+", r"[^ab]+"]))
def test_random_documents_equal_sklearn(docs, ngram_range, max_features, pattern):
    params = dict(ngram_range=ngram_range, max_features=max_features, token_pattern=pattern)
    try:
        want = SkTfidf(**params).fit(docs)
    except ValueError:   # empty vocabulary: ours must refuse as well
        with pytest.raises(ValueError):
            TfidfVectorizer(**params).fit(docs)
        return
    ours = TfidfVectorizer(**params).fit(docs)
    assert_same_fit(ours, want)
    assert_same(ours.transform(docs[::-1]), want.transform(docs[::-1]))


def test_default_pattern_shortcuts_are_exact(imdb_2000):
    """``\\w\\w+`` and, for ASCII text, the NumPy scan (runs of [A-Za-z0-9_] of 2 or
    more) give the default pattern's tokens (the fast paths of
    :mod:`mlsandbox.text.counting`)."""
    from mlsandbox.text import fastscan

    default, short = re.compile(r"(?u)\b\w\w+\b"), re.compile(r"\w\w+")
    docs = imdb_2000[0] + AWKWARD + ["line\nbreaks\ninside", "tab\tsep_ar_ated 1a2b"]
    for doc in docs:
        assert short.findall(doc.lower()) == default.findall(doc.lower())
    ascii_docs = [d for d in docs if d.isascii()]
    for lowercase in (True, False):
        sc = fastscan.scan(ascii_docs, fastscan.WORD, lowercase=lowercase, min_len=2)
        got = [[] for _ in ascii_docs]
        for i in range(len(sc)):
            got[sc.doc[i]].append(sc.text(i))
        assert got == [default.findall(d.lower() if lowercase else d) for d in ascii_docs]


# ------------------------------------------------------------------ scikit-learn contract


@pytest.mark.parametrize("check", APPLICABLE_CHECKS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_sklearn_checks_that_apply(check, backend):
    getattr(checks, check)("TfidfVectorizer", TfidfVectorizer(backend=backend))


def test_check_estimator_runs_what_applies_to_text():
    """check_estimator itself skips every check that needs numeric X (a SkipTestWarning)."""
    with pytest.warns(checks.SkipTestWarning, match="requires input"):
        results = checks.check_estimator(TfidfVectorizer(), on_fail=None)
    assert [r["status"] for r in results] == ["passed"]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_estimator_contract_on_raw_text(backend):
    from mlsandbox.data import load_text_corpus

    docs = load_text_corpus().x_train
    vec = TfidfVectorizer(backend=backend, ngram_range=(1, 2), min_df=2)
    before = vec.get_params()
    with pytest.raises(NotFittedError):
        vec.transform(docs)
    with pytest.raises(NotFittedError):
        vec.get_feature_names_out()
    assert vec.fit(docs) is vec
    assert vec.get_params() == before                    # fit does not touch parameters
    X = vec.transform(docs)
    assert_same(vec.fit_transform(docs), X)              # fit_transform == fit + transform
    again = clone(vec).fit(docs)
    assert again.vocabulary_ == vec.vocabulary_          # idempotent, clone fits the same
    assert_same(again.transform(docs), X)
    assert_same(vec.transform(docs[10:30]), X[10:30])    # rows do not depend on the batch
    assert len(vec.get_feature_names_out()) == X.shape[1]


def test_in_a_pipeline_and_grid_search():
    from mlsandbox.data import load_text_corpus

    ds = load_text_corpus()
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0))
    grid = GridSearchCV(pipe, {"tfidfvectorizer__backend": list(BACKENDS),
                               "tfidfvectorizer__ngram_range": [(1, 1), (1, 2)]}, cv=3)
    grid.fit(ds.x_train, ds.y_train)
    assert grid.score(ds.x_test, ds.y_test) > 0.6   # well above chance on held-out sentences


def test_output_follows_the_sparse_interface_setting():
    X = TfidfVectorizer().fit_transform(AWKWARD)
    assert isinstance(X, sp.csr_matrix) and X.indices.dtype == np.int32
    with sklearn.config_context(sparse_interface="sparray"):
        Y = TfidfVectorizer().fit_transform(AWKWARD)
    assert isinstance(Y, sp.csr_array) and not isinstance(Y, sp.spmatrix)


def test_bytes_documents_are_utf8():
    ours = TfidfVectorizer().fit([d.encode() for d in AWKWARD])
    assert ours.vocabulary_ == TfidfVectorizer().fit(AWKWARD).vocabulary_


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("docs, error, match", [
    ("one long string", ValueError, "iterable of raw text documents, got a single str"),
    (["fine", 3, "fine"], TypeError, "document 1 is int 3"),
    (["fine", None], TypeError, "document 1 is NoneType"),
    ([b"\xff\xfe"], ValueError, "document 0 is bytes that are not valid UTF-8"),
    (42, TypeError, "got int"),
    (["a", "b c d"], ValueError, r"empty vocabulary.*token_pattern"),
])
def test_bad_documents(docs, error, match):
    with pytest.raises(error, match=match):
        TfidfVectorizer().fit(docs)


@pytest.mark.parametrize("params, error, match", [
    (dict(backend="torch"), InvalidParameterError, r"'backend' parameter.*Got 'torch'"),
    (dict(min_df=-1), InvalidParameterError, r"'min_df' parameter.*Got -1"),
    (dict(max_df=1.5), InvalidParameterError, r"'max_df' parameter.*Got 1.5"),
    (dict(norm="l3"), InvalidParameterError, r"'norm' parameter.*Got 'l3'"),
    (dict(max_features=0), InvalidParameterError, r"'max_features' parameter.*Got 0"),
    (dict(ngram_range=(2, 1)), ValueError, r"ngram_range=\(2, 1\) is invalid"),
    (dict(ngram_range=(0, 1)), ValueError, r"ngram_range=\(0, 1\) is invalid"),
    (dict(token_pattern=r"(\w)(\w)"), ValueError, "has 2 capturing groups"),
    (dict(min_df=3, max_df=2), ValueError,
     r"max_df=2 corresponds to 2 documents, fewer than min_df=3"),
    (dict(min_df=0.9, max_df=0.1), ValueError, r"max_df=0.1 corresponds to 0.4 documents"),
    (dict(min_df=4), ValueError, r"no terms remain \(min_df=4"),
])
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        TfidfVectorizer(**params).fit(["good film", "bad film", "good plot", "dull plot"])
