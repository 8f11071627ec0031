"""The tokenizer and :class:`Vocabulary`: their rules, their errors, and Keras.

With ``standardize=tf_standardize, split="whitespace"`` and our vocabulary, Keras's
``TextVectorization`` must give the same ids for every review (500 IMDB training
reviews here, all 25,000 in the slow test).  Each entry of
:data:`mlsandbox.text.KERAS_CONVENTIONS` has a ``test_convention_*`` test below that
shows the difference on examples; the slow ``test_convention_sizes_on_imdb`` re-measures
the sizes the table states.
"""

from __future__ import annotations

import os
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsandbox.text import (
    KERAS_CONVENTIONS,
    OOV_ID,
    PAD_ID,
    PUNCTUATION,
    Vocabulary,
    standardize,
    tf_standardize,
    tokenize,
    tokenize_many,
    vectorize,
)
from mlsandbox.text.tokenize import unicode_whitespace

KERAS_STRIP = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'   # Keras's DEFAULT_STRIP_REGEX


@pytest.fixture
def slow_selected(request):
    """Skip unless slow tests were asked for (``-m slow`` or ``MLSANDBOX_SLOW=1``)."""
    if "slow" not in (request.config.getoption("markexpr") or "") and \
            not os.environ.get("MLSANDBOX_SLOW"):
        pytest.skip("slow (all 25,000 IMDB training reviews): run with -m slow or "
                    "MLSANDBOX_SLOW=1")


# ------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("text, tokens", [
    ("Hello, World!", ["hello", ",", "world", "!"]),
    ("Don't stop: it's the film's best.", ["don't", "stop", ":", "it's", "the", "film's",
                                           "best", "."]),
    ("great.<br /><br />The end", ["great", ".", "the", "end"]),
    ("a<br/>b<BR>c<br  />d", ["a", "b", "c", "d"]),
    ("<b>bold</b>", ["<", "b", ">", "bold", "<", "/", "b", ">"]),
    ("wow!!!", ["wow", "!", "!", "!"]),
    ("ÉTÉ Straße", ["été", "straße"]),
    ("well-made (1999)", ["well", "-", "made", "(", "1999", ")"]),
    ("a\u00a0b\x85c\u3000d\te\n", ["a", "b", "c", "d", "e"]),
    ("so… “good” – yes", ["so…", "“good”", "–", "yes"]),   # non-ASCII punctuation stays
    ("", []),
    ("   ", []),
])
def test_tokenize_rules(text, tokens):
    assert tokenize(text) == tokens
    assert standardize(text).split() == tokens
    assert tokenize_many([text, text]) == [tokens, tokens]


def test_every_ascii_punctuation_but_the_apostrophe_is_split_off():
    assert PUNCTUATION == string.punctuation.replace("'", "") and len(PUNCTUATION) == 31
    for c in PUNCTUATION:
        assert tokenize(f"x{c}y") == ["x", c, "y"], c
    assert tokenize("x'y") == ["x'y"]


def test_tokenizer_splits_on_exactly_python_whitespace():
    for c in unicode_whitespace():
        assert tokenize(f"x{c}y") == ["x", "y"], hex(ord(c))
    assert tokenize("x\u200by") == ["x\u200by"]   # zero-width space is not whitespace


@pytest.mark.parametrize("bad, match", [
    (b"bytes", "expected a str text, got bytes"),
    (3, "expected a str text, got int"),
])
def test_tokenize_refuses_non_text(bad, match):
    with pytest.raises(TypeError, match=match):
        tokenize(bad)


def test_tokenize_many_names_the_bad_item():
    with pytest.raises(TypeError, match="at index 2, got NoneType"):
        tokenize_many(["a", "b", None])
    with pytest.raises(TypeError, match="got a single str"):
        tokenize_many("not a list")


# ------------------------------------------------------------------------ Vocabulary


def test_vocabulary_order_ties_and_reserved_ids():
    vocab = Vocabulary.fit(["b a c", "a c", "d"], max_tokens=None)
    # counts a 2, c 2, b 1, d 1: by count, ties by ascending token
    assert vocab.tokens == ["", "[UNK]", "a", "c", "b", "d"]
    assert vocab.counts.tolist() == [0, 0, 2, 2, 1, 1]
    assert vocab.index["a"] == 2 and PAD_ID == 0 and OOV_ID == 1
    assert Vocabulary.fit(["b a c", "a c", "d"], max_tokens=4).tokens == ["", "[UNK]", "a", "c"]
    assert Vocabulary.fit(["b a c", "a c", "d"], min_count=2).tokens == ["", "[UNK]", "a", "c"]
    assert len(Vocabulary.fit(["x"], max_tokens=2)) == 2


def test_encode_truncates_and_pads_on_either_side():
    vocab = Vocabulary(["a", "b", "c"])                  # ids 2, 3, 4
    texts = ["a b c a b", "c", "zzz a"]
    np.testing.assert_array_equal(vocab.encode(texts, 3), [[2, 3, 4], [4, 0, 0], [1, 2, 0]])
    np.testing.assert_array_equal(vocab.encode(texts, 3, truncating="pre", padding="pre"),
                                  [[4, 2, 3], [0, 0, 4], [0, 1, 2]])
    np.testing.assert_array_equal(vectorize(texts, vocab, 6),
                                  [[2, 3, 4, 2, 3, 0], [4, 0, 0, 0, 0, 0], [1, 2, 0, 0, 0, 0]])
    out = vocab.encode(texts, 3)
    assert out.dtype == np.int64 and out.shape == (3, 3)
    assert vocab.encode([], 5).shape == (0, 5)
    toks = [["a", "b"], ["q"]]
    np.testing.assert_array_equal(vocab.encode(None, 2, tokens=toks), [[2, 3], [1, 0]])
    assert vocab.decode(vocab.encode(["b zzz"], 4)[0]) == ["b", "[UNK]"]


def test_encode_many_chunks_equals_one_by_one():
    """Chunked encoding (64 texts at a time) gives the rows of one-text calls."""
    vocab = Vocabulary.fit([f"w{i % 37} w{i % 11} x" for i in range(200)])
    texts = [" ".join(f"w{j}" for j in range(i % 9)) for i in range(150)]
    rows = np.concatenate([vocab.encode([t], 5) for t in texts])
    np.testing.assert_array_equal(vocab.encode(texts, 5), rows)


AWKWARD = ["line\nbreak\tand\x0bvertical\x1cfile", "NUL\x00inside", "<BR />x<br/>y<br  >z",
           "ascii only: it's 'quoted', done!", "ünïcödé — mixed… with ASCII words",
           "averyveryverylongword and short ones", "", "  ", "a", "!!!", "ÉTÉ\u00a0été"]


@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_fast_path_equals_the_tokenizer(imdb_train, truncating, padding):
    """ASCII texts go through the NumPy scan: ids and counts equal the tokenizer's."""
    texts = imdb_train[:200] + AWKWARD + imdb_train[200:260]
    toks = tokenize_many(texts)
    vocab = Vocabulary.fit(texts, max_tokens=3000)
    assert vocab == Vocabulary.fit(tokens=toks, max_tokens=3000)
    np.testing.assert_array_equal(vocab.counts, Vocabulary.fit(tokens=toks, max_tokens=3000).counts)
    for length in (1, 7, 300):
        np.testing.assert_array_equal(
            vocab.encode(texts, length, truncating=truncating, padding=padding),
            vocab.encode(None, length, truncating=truncating, padding=padding, tokens=toks))


ALPHABET = list("ab'.,!<>/ \n\t\x00\x1cé") + ["<br />", "<BR>", "wordlonger", "İ", "\u00a0"]


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.lists(st.sampled_from(ALPHABET), max_size=15).map("".join),
                      max_size=12),
       length=st.integers(1, 6), truncating=st.sampled_from(["pre", "post"]),
       padding=st.sampled_from(["pre", "post"]))
def test_fast_path_on_random_texts(texts, length, truncating, padding):
    toks = tokenize_many(texts)
    vocab = Vocabulary.fit(texts)
    ref = Vocabulary.fit(tokens=toks)
    assert vocab == ref and vocab.counts.tolist() == ref.counts.tolist()
    np.testing.assert_array_equal(
        vocab.encode(texts, length, truncating=truncating, padding=padding),
        vocab.encode(None, length, truncating=truncating, padding=padding, tokens=toks))


def test_vocabulary_save_load_round_trip(tmp_path):
    vocab = Vocabulary.fit(["ünïcode words", "words"])
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == vocab
    assert not list(tmp_path.glob("*.partial"))
    (tmp_path / "bad.json").write_text('["a", "b"]')
    with pytest.raises(ValueError, match="not a saved Vocabulary"):
        Vocabulary.load(tmp_path / "bad.json")


@pytest.mark.parametrize("call, error, match", [
    (lambda: Vocabulary.fit(["a"], max_tokens=1), ValueError,
     "max_tokens must be None or an int >= 2"),
    (lambda: Vocabulary.fit(["a"], min_count=0), ValueError, "min_count must be an int >= 1"),
    (lambda: Vocabulary.fit(["a"], tokens=[["a"]]), TypeError, "either texts or tokens"),
    (lambda: Vocabulary.fit("abc"), TypeError, "got a single str"),
    (lambda: Vocabulary(["a", "a"]), ValueError, "'a' appears more than once"),
    (lambda: Vocabulary(["a", ""]), ValueError, "word 3 is ''"),
    (lambda: Vocabulary(["a"]).encode(["a"], 0), ValueError, "length must be a positive int"),
    (lambda: Vocabulary(["a"]).encode(["a"], 3, padding="left"), ValueError,
     "padding must be 'pre' or 'post', got 'left'"),
    (lambda: Vocabulary(["a"]).encode(["a", 7], 3), TypeError, "at index 1, got int 7"),
    (lambda: Vocabulary(["a"]).decode([0, 9]), ValueError, "id 9 is outside the vocabulary"),
])
def test_vocabulary_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------------------ Keras


@pytest.fixture(scope="module")
def keras_tf():
    pytest.importorskip("keras")
    from models.frameworks import load_keras

    return load_keras()


@pytest.fixture(scope="module")
def imdb_train(shared_data):
    from mlsandbox.data import load_imdb

    return load_imdb(shared_data, split="train", per_class=250).texts


def keras_ids(keras, tf, texts, vocab, length):
    layer = keras.layers.TextVectorization(
        max_tokens=None, standardize=tf_standardize, split="whitespace",
        output_sequence_length=length, vocabulary=vocab.tokens[2:])
    assert layer.get_vocabulary() == vocab.tokens
    return np.asarray(layer(tf.constant(texts)))


def assert_same_ids_as_keras(keras_tf, texts):
    keras, tf = keras_tf
    vocab = Vocabulary.fit(texts, max_tokens=20_000)
    ours = vocab.encode(texts, 250)
    theirs = keras_ids(keras, tf, texts, vocab, 250)
    assert theirs.dtype == np.int64 and theirs.shape == ours.shape == (len(texts), 250)
    bad = np.flatnonzero((ours != theirs).any(axis=1))
    assert bad.size == 0, f"{bad.size} reviews differ, first {bad[:5].tolist()}"


@pytest.mark.keras
def test_same_ids_as_keras_text_vectorization(keras_tf, imdb_train):
    assert_same_ids_as_keras(keras_tf, imdb_train)


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.usefixtures("slow_selected")
def test_same_ids_as_keras_on_all_imdb_train(keras_tf, shared_data):
    from mlsandbox.data import load_imdb

    assert_same_ids_as_keras(keras_tf, load_imdb(shared_data, split="train").texts)


@pytest.mark.keras
def test_same_ids_as_keras_on_awkward_text(keras_tf):
    texts = ["Ünïcödé CAPS İ ΣΑΣ", "tabs\tand\u00a0nbsp\x85nel\u2028ls\x1cfs", "<BR>x<br/>y",
             "punct!?!...'quoted' \"double\"", "", "   "]
    keras, tf = keras_tf
    vocab = Vocabulary.fit(texts)
    np.testing.assert_array_equal(keras_ids(keras, tf, texts, vocab, 12), vocab.encode(texts, 12))


def keras_default_tokens(tf, texts):
    std = tf.strings.split(tf.strings.regex_replace(tf.strings.lower(tf.constant(texts)),
                                                    KERAS_STRIP, ""))
    return [[w.decode() for w in row] for row in std.to_list()]


def test_the_conventions_table_names_each_difference():
    topics = [c.topic for c in KERAS_CONVENTIONS]
    assert topics == ["punctuation", "line breaks", "lowercasing", "whitespace",
                      "vocabulary ties", "reserved ids and max_tokens",
                      "truncation and padding side"]
    assert all(c.difference and c.size and c.setting for c in KERAS_CONVENTIONS)


@pytest.mark.keras
def test_convention_punctuation(keras_tf):
    keras, tf = keras_tf
    layer = keras.layers.TextVectorization()   # Keras's defaults
    assert layer.get_config()["standardize"] == "lower_and_strip_punctuation"
    text = "Don't miss it: the end.The best!"
    assert keras_default_tokens(tf, [text])[0] == ["dont", "miss", "it", "the", "endthe", "best"]
    assert tokenize(text) == ["don't", "miss", "it", ":", "the", "end", ".", "the", "best", "!"]


@pytest.mark.keras
def test_convention_line_breaks(keras_tf):
    _, tf = keras_tf
    assert keras_default_tokens(tf, ["fun.<br /><br />Sad"])[0] == ["funbr", "br", "sad"]
    assert tokenize("fun.<br /><br />Sad") == ["fun", ".", "sad"]


@pytest.mark.keras
def test_convention_lowercasing(keras_tf):
    _, tf = keras_tf
    text = "ÉTÉ Straße İ ΣΑΣ ẞ"
    assert tf.strings.lower(tf.constant([text])).numpy()[0].decode() == "ÉtÉ straße İ ΣΑΣ ẞ"
    utf8 = tf.strings.lower(tf.constant([text]), encoding="utf-8").numpy()[0].decode()
    assert utf8 == text.lower() == "été straße i̇ σας ß"


@pytest.mark.keras
def test_convention_whitespace(keras_tf):
    _, tf = keras_tf
    split = tf.strings.split(tf.constant(["a\u00a0b c\x85d e\x1cf g\th"])).to_list()[0]
    assert [w.decode() for w in split] == ["a\u00a0b", "c\x85d", "e\x1cf", "g", "h"]
    assert tokenize("a\u00a0b c\x85d e\x1cf g\th") == list("abcdefgh")


@pytest.mark.keras
def test_convention_vocabulary_ties(keras_tf):
    """adapt breaks count ties by descending token; ours by ascending."""
    keras, tf = keras_tf
    texts = ["b a c", "a c", "d", "d"]
    layer = keras.layers.TextVectorization(standardize=tf_standardize, split="whitespace")
    layer.adapt(tf.constant(texts))
    assert layer.get_vocabulary() == ["", "[UNK]", "d", "c", "a", "b"]
    assert Vocabulary.fit(texts).tokens == ["", "[UNK]", "a", "c", "d", "b"]


@pytest.mark.keras
def test_convention_reserved_ids_and_max_tokens(keras_tf):
    keras, tf = keras_tf
    texts = ["x y y z z z"]
    layer = keras.layers.TextVectorization(max_tokens=3, standardize=tf_standardize)
    layer.adapt(tf.constant(texts))
    ours = Vocabulary.fit(texts, max_tokens=3).tokens
    assert layer.get_vocabulary() == ours == ["", "[UNK]", "z"]


@pytest.mark.keras
def test_convention_truncation_and_padding_side(keras_tf):
    keras, tf = keras_tf
    vocab = Vocabulary(["a", "b", "c", "d"])
    texts = ["a b c d", "b"]
    seqs = [vocab.lookup(t).tolist() for t in tokenize_many(texts)]
    np.testing.assert_array_equal(keras_ids(keras, tf, texts, vocab, 3), vocab.encode(texts, 3))
    np.testing.assert_array_equal(keras.utils.pad_sequences(seqs, maxlen=3),
                                  vocab.encode(texts, 3, truncating="pre", padding="pre"))
    np.testing.assert_array_equal(vocab.encode(texts, 3), [[2, 3, 4], [3, 0, 0]])
    np.testing.assert_array_equal(vocab.encode(texts, 3, truncating="pre", padding="pre"),
                                  [[3, 4, 5], [0, 0, 3]])


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.usefixtures("slow_selected")
def test_convention_sizes_on_imdb(keras_tf, shared_data):
    """The sizes stated in KERAS_CONVENTIONS, measured on the 25,000 training reviews."""
    from mlsandbox.data import load_imdb

    keras, tf = keras_tf
    texts = load_imdb(shared_data, split="train").texts
    ours, theirs = tokenize_many(texts), keras_default_tokens(tf, texts)
    assert sum(a != b for a, b in zip(ours, theirs)) == 24_999
    assert len({w for r in theirs for w in r}) == 121_892
    assert len({w for r in ours for w in r}) == 88_106
    assert sum("br" in r for r in theirs) == 14_666
    assert sum(r.count("br") for r in theirs) == 57_106
    assert sum(any(c.isupper() and ord(c) > 127 for c in t) for t in texts) == 17
    assert sum("\u00a0" in t or "\x85" in t for t in texts) == 355
    vocab = Vocabulary.fit(tokens=ours, max_tokens=20_000)
    layer = keras.layers.TextVectorization(max_tokens=20_000, standardize=tf_standardize,
                                           split="whitespace")
    layer.adapt(tf.constant(texts))
    kv = layer.get_vocabulary()
    differ = [i for i, (a, b) in enumerate(zip(kv, vocab.tokens)) if a != b]
    assert (differ[0], len(differ), int(vocab.counts[-1])) == (84, 18_991, 10)
    assert len(set(vocab.tokens) - set(kv)) == 469
    lengths = np.array([len(t) for t in ours])
    assert ((lengths > 250).sum(), (lengths < 250).sum(), (lengths == 250).sum()) == \
        (9_288, 15_669, 43)
