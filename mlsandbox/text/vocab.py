"""Word vocabularies and fixed-length id sequences, as Keras's ``TextVectorization`` makes them.

>>> from mlsandbox.text import Vocabulary
>>> vocab = Vocabulary.fit(["a good film", "a bad film", "good"], max_tokens=5)
>>> vocab.tokens
['', '[UNK]', 'a', 'film', 'good']
>>> vocab.encode(["a good plot, a good film"], length=8)
array([[2, 4, 1, 1, 2, 4, 3, 0]])

* Ids: 0 is padding (token ``""``), 1 the out-of-vocabulary token (``"[UNK]"``), then the
  words from the most frequent down.  Neither reserved string can come out of
  :func:`~mlsandbox.text.tokenize` (it never yields ``""`` and splits ``[`` and ``]`` off).
* ``max_tokens`` counts the two reserved ids, as in Keras: ``max_tokens=20_000`` keeps the
  19,998 most frequent words.
* Frequency is the number of occurrences in the fitted texts (not of documents).  Ties are
  broken by the token itself in ascending code-point order (Python's ``str`` order, equal to
  UTF-8 byte order), so ``"bad"`` comes before ``"good"`` at equal counts.  ``min_count``
  drops words seen fewer times.
* :meth:`Vocabulary.encode`: every text to exactly ``length`` ids, int64 ``(n, length)``.
  Longer texts are cut (``truncating="post"`` keeps the first ``length`` tokens, as
  ``TextVectorization`` does; ``"pre"`` keeps the last, as ``keras.utils.pad_sequences``
  does by default); shorter ones are filled with 0 (``padding="post"`` after the tokens,
  as ``TextVectorization``; ``"pre"`` before, as ``pad_sequences``).

Equal to Keras (``tests/test_text_vocab.py`` checks every IMDB training review):

    TextVectorization(max_tokens=None, standardize=tf_standardize, split="whitespace",
                      output_sequence_length=T, vocabulary=vocab.tokens[2:])

gives ``vocab.encode(texts, T)``.  What differs from Keras's defaults (each pinned by a
``test_convention_*`` test; the table with the measured sizes is in ``docs/text.md``):
Keras's default ``"lower_and_strip_punctuation"`` deletes the 32 ASCII punctuation
characters (``"don't"`` -> ``"dont"``, ``"end."`` -> ``"end"``) where we split 31 off and
keep the apostrophe; its ``"lower"`` lowercases ASCII only (``tf.strings.lower`` without an
encoding); it leaves ``<br />`` in (as ``"br"``); its whitespace split is ASCII only
(U+00A0 and U+0085 stay inside tokens); and ``adapt`` breaks frequency ties by the token in
*descending* byte order (``np.lexsort(...)[::-1]``), where we use ascending order.

Speed: ASCII texts (90 % of IMDB) are tokenized in NumPy (:mod:`mlsandbox.text.fastscan`)
and their tokens of up to 7 bytes looked up by ``np.searchsorted`` on integer keys; the
other tokens through ``map(dict.get, ...)``.  No Python loop runs per token.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from mlsandbox.text import fastscan
from mlsandbox.text.tokenize import _LINE_BREAK, _as_list, tokenize_many

PAD_ID, OOV_ID = 0, 1
_CHUNK = 64
PAD_TOKEN, OOV_TOKEN = "", "[UNK]"
_SIDES = ("pre", "post")


class Vocabulary:
    """Token <-> id table: ``tokens[0] == ""`` (padding), ``tokens[1] == "[UNK]"``, then words.

    Build with :meth:`fit` (from texts) or ``Vocabulary(words)`` (the words in id order
    from 2 on, e.g. ``Vocabulary(vocab.tokens[2:])`` or a list saved by :meth:`save`).
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if words[:2] == [PAD_TOKEN, OOV_TOKEN]:
            words = words[2:]
        for i, w in enumerate(words):
            if not isinstance(w, str) or w in (PAD_TOKEN, OOV_TOKEN):
                raise ValueError(f"vocabulary word {i + 2} is {w!r}; expected a non-empty str "
                                 f"other than the reserved {PAD_TOKEN!r} and {OOV_TOKEN!r}")
        self.tokens: list[str] = [PAD_TOKEN, OOV_TOKEN, *words]
        self.index: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            dup = next(t for t, n in Counter(self.tokens).items() if n > 1)
            raise ValueError(f"vocabulary word {dup!r} appears more than once")
        self.counts: np.ndarray | None = None  # occurrences in the fitted texts (fit only)
        self._key_table = None

    @classmethod
    def fit(cls, texts: Iterable[str] | None = None, max_tokens: int | None = None, *,
            min_count: int = 1, tokens: Iterable[Sequence[str]] | None = None) -> Vocabulary:
        """The ``max_tokens - 2`` most frequent words of ``texts`` (or of pre-split ``tokens``).

        ``max_tokens=None`` keeps every word seen at least ``min_count`` times.  Order:
        count descending, then token ascending; ``counts`` holds the counts (0 for the two
        reserved ids).
        """
        if (texts is None) == (tokens is None):
            raise TypeError("Vocabulary.fit: pass either texts or tokens (pre-split), not both")
        if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer))
                                       or max_tokens < 2):
            raise ValueError(f"max_tokens must be None or an int >= 2 (it counts the padding "
                             f"and out-of-vocabulary ids), got {max_tokens!r}")
        if not isinstance(min_count, (int, np.integer)) or min_count < 1:
            raise ValueError(f"min_count must be an int >= 1, got {min_count!r}")
        counter: Counter = Counter()
        if tokens is not None:
            for chunk in _token_chunks(None, tokens):
                counter.update(itertools.chain.from_iterable(chunk))
        else:
            texts, a_idx, o_idx = _split_ascii(texts)
            sc = fastscan.scan([texts[i] for i in a_idx.tolist()], fastscan.TOKEN,
                               lowercase=True, line_breaks=_LINE_BREAK)
            keys, n = np.unique(sc.keys[sc.short], return_counts=True)
            counter.update(dict(zip(map(fastscan.Scan.text_of_key, keys.tolist()), n.tolist())))
            counter.update(sc.long)
            for chunk in _token_chunks([texts[i] for i in o_idx.tolist()], None):
                counter.update(itertools.chain.from_iterable(chunk))
        counter.pop(PAD_TOKEN, None), counter.pop(OOV_TOKEN, None)
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        ranked = [kv for kv in ranked if kv[1] >= min_count]
        if max_tokens is not None:
            ranked = ranked[: max_tokens - 2]
        vocab = cls([w for w, _ in ranked])
        vocab.counts = np.array([0, 0, *(n for _, n in ranked)], dtype=np.int64)
        return vocab

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        head = ", ".join(map(repr, self.tokens[2:7]))
        return f"Vocabulary({len(self)} tokens: '', '[UNK]', {head}{', ...' * (len(self) > 7)})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def lookup(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens`` (1 for unknown ones), int64 ``(len(tokens),)``."""
        return np.fromiter(map(self.index.get, tokens, itertools.repeat(OOV_ID)), np.int64,
                           len(tokens))

    def decode(self, ids) -> list[str]:
        """Tokens of ``ids`` (one sequence), padding dropped."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode takes one sequence of ids (1-d), got shape {ids.shape}")
        bad = ids[(ids < 0) | (ids >= len(self))]
        if bad.size:
            raise ValueError(f"id {int(bad[0])} is outside the vocabulary [0, {len(self)})")
        return [self.tokens[i] for i in ids.tolist() if i != PAD_ID]

    def encode(self, texts: Iterable[str], length: int, *, truncating: str = "post",
               padding: str = "post", tokens: Iterable[Sequence[str]] | None = None
               ) -> np.ndarray:
        """Every text as exactly ``length`` ids: int64 ``(n, length)`` (see module docstring).

        Pass ``tokens`` (pre-split) instead of ``texts`` to skip the tokenizer.
        """
        if not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"length must be a positive int (ids per text), got {length!r}")
        for name, side in (("truncating", truncating), ("padding", padding)):
            if side not in _SIDES:
                raise ValueError(f"{name} must be 'pre' or 'post', got {side!r}")
        length = int(length)
        if tokens is not None:
            tokens = tokens if isinstance(tokens, list) else list(tokens)
            out = np.zeros((len(tokens), length), dtype=np.int64)
            lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
            keep, flat = _positions(np.repeat(np.arange(len(tokens)), lengths), len(tokens),
                                    length, truncating, padding)
            out.ravel()[flat] = self.lookup(list(itertools.compress(
                itertools.chain.from_iterable(tokens), keep)))
            return out
        texts, a_idx, o_idx = _split_ascii(texts)
        out = np.zeros((len(texts), length), dtype=np.int64)
        # ASCII texts: the NumPy scan, which drops the tokens past the cut at once
        sc = fastscan.scan([texts[i] for i in a_idx.tolist()], fastscan.TOKEN,
                           lowercase=True, line_breaks=_LINE_BREAK, limit=length,
                           last=truncating == "pre")
        keep, flat = _positions(a_idx[sc.doc], len(texts), length, truncating, padding)
        short = sc.short[keep]
        ids = np.empty(len(flat), np.int64)
        ids[short] = self._keys().get(sc.keys[keep][short], OOV_ID)
        ids[~short] = self.lookup(list(itertools.compress(sc.long, keep[~sc.short])))
        out.ravel()[flat] = ids
        # the others: the tokenizer, 64 texts at a time
        for chunk_idx, chunk in zip(_chunks(o_idx), _token_chunks(
                [texts[i] for i in o_idx.tolist()], None)):
            lengths = np.fromiter(map(len, chunk), np.int64, len(chunk))
            keep, flat = _positions(np.repeat(chunk_idx, lengths), len(texts), length,
                                    truncating, padding)
            out.ravel()[flat] = self.lookup(list(itertools.compress(
                itertools.chain.from_iterable(chunk), keep)))
        return out

    def _keys(self):
        """The sorted integer keys of the short ASCII tokens and their ids (cached)."""
        if getattr(self, "_key_table", None) is None:
            self._key_table = fastscan.key_table(self.tokens, np.arange(len(self.tokens)))
        return self._key_table

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokens as a JSON list (UTF-8); :meth:`load` reads it back."""
        tmp = f"{path}.partial"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.tokens, f, ensure_ascii=False)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        with open(path, encoding="utf-8") as f:
            tokens = json.load(f)
        if not isinstance(tokens, list) or tokens[:2] != [PAD_TOKEN, OOV_TOKEN]:
            raise ValueError(f"{path}: not a saved Vocabulary (expected a JSON list starting "
                             f"with {PAD_TOKEN!r}, {OOV_TOKEN!r})")
        return cls(tokens)


def _split_ascii(texts) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(texts as a list, indices of the ASCII texts, indices of the others)``; a clear
    error for a single str or a non-str item."""
    texts = _as_list(texts)
    try:
        ascii_ = np.fromiter(map(str.isascii, texts), bool, len(texts))
    except TypeError:
        bad = next(i for i, t in enumerate(texts) if not isinstance(t, str))
        raise TypeError(f"expected a str text at index {bad}, got {type(texts[bad]).__name__} "
                        f"{texts[bad]!r:.60}") from None
    return texts, np.flatnonzero(ascii_), np.flatnonzero(~ascii_)


def _positions(rows: np.ndarray, n: int, length: int, truncating: str, padding: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """For a token stream in text order (``rows``: each token's text, ascending): which
    tokens are kept and their flat index into the ``(n, length)`` id matrix."""
    counts = np.bincount(rows, minlength=n)
    first = np.cumsum(counts) - counts
    pos = np.arange(len(rows)) - first[rows]          # position of each token in its text
    if truncating == "post":
        keep = pos < length
        col = pos[keep]
    else:
        drop = np.maximum(counts - length, 0)
        keep = pos >= drop[rows]
        col = pos[keep] - drop[rows[keep]]
    kept_rows = rows[keep]
    if padding == "pre":
        col += (length - np.minimum(counts, length))[kept_rows]
    return keep, kept_rows * length + col


def _chunks(a: np.ndarray, size: int = _CHUNK):
    for start in range(0, len(a), size):
        yield a[start:start + size]


def _token_chunks(texts, tokens, size: int = _CHUNK):
    """Token lists of ``texts`` (or the given ``tokens``), ``size`` texts at a time.

    Working in small chunks keeps each chunk's new str objects in the CPU caches while
    they are looked up, about 1.5x faster than tokenizing everything first.
    """
    if tokens is not None:
        tokens = tokens if isinstance(tokens, list) else list(tokens)
        for start in range(0, len(tokens), size):
            yield tokens[start:start + size]
        return
    texts = _as_list(texts)   # refuses a single str
    for start in range(0, len(texts), size):
        chunk = texts[start:start + size]
        try:
            yield tokenize_many(chunk)
        except TypeError:
            bad = next(i for i, t in enumerate(chunk) if not isinstance(t, str))
            raise TypeError(f"expected a str text at index {start + bad}, got "
                            f"{type(chunk[bad]).__name__} {chunk[bad]!r:.60}") from None


def vectorize(texts: Iterable[str], vocab: Vocabulary, length: int, **kw) -> np.ndarray:
    """``vocab.encode(texts, length, **kw)``: int64 ``(n, length)`` ids."""
    return vocab.encode(texts, length, **kw)
