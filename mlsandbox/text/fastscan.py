"""Tokenizing ASCII text in NumPy: token boundaries from byte classes, short tokens as ints.

>>> import numpy as np
>>> from mlsandbox.text.fastscan import WORD, scan
>>> s = scan(["Big fish, small pond", "ok"], WORD, lowercase=True, min_len=2)
>>> s.doc.tolist(), [s.text(i) for i in range(len(s))]
([0, 0, 0, 0, 1], ['big', 'fish', 'small', 'pond', 'ok'])
>>> bool(s.short[0]), s.text_of_key(int(s.keys[0]))
(True, 'big')

Most documents are pure ASCII (``str.isascii()``, O(1) in CPython; 90 % of IMDB).  For
them a tokenizer whose rules are per-character classes can run on the bytes instead of
Python strings: the documents of a block are joined with ``"\\n"`` (a separator and
whitespace in both our rules) and encoded once, then

* a token is a maximal run of *run* bytes (``isrun = table[byte]``: run starts where the
  class switches on, ends where it switches off), or a single *split* byte (the
  punctuation that :func:`mlsandbox.text.tokenize` splits off);
* a token of at most 7 bytes is identified by one uint64 **key**: its bytes in the low 56
  bits (little-endian) and its length in the top 8, so equal keys are equal tokens,
  exactly; vocabularies are looked up in a :class:`KeyTable` (an exact hash table probed
  in NumPy) of the keys of their short words.  Longer tokens (11 % of IMDB's) become str
  objects.

Only the per-token work that cannot be vectorized -- the longer tokens, and the documents
with non-ASCII characters -- goes through Python, so the scan costs about a tenth of a
second per 10 MB of text.  The two character tables:

* :data:`WORD` (scikit-learn's default ``token_pattern``, ``\\w\\w+``, on ASCII text):
  runs of ``[A-Za-z0-9_]``, no split bytes; the caller keeps runs of 2 or more;
* :data:`TOKEN` (our tokenizer, :mod:`mlsandbox.text.tokenize`): runs of bytes that are
  neither ASCII whitespace (``str.isspace``: ``\\t\\n\\v\\f\\r``, ``\\x1c``-``\\x1f``, space)
  nor in ``PUNCTUATION``; each ``PUNCTUATION`` byte is a token.
"""

from __future__ import annotations

import string
from typing import NamedTuple

import numpy as np

from mlsandbox.text.tokenize import PUNCTUATION

MAX_SHORT = 7          # bytes of a token that fit in a key (the 8th byte holds the length)
_BLOCK_CHARS = 1 << 22  # text scanned at once (4 MiB: fits the caches, bounds the memory)
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(MAX_SHORT + 1)], dtype=np.uint64)


class Classes(NamedTuple):
    """Per-byte tables: ``run[b]`` extends a token, ``split[b]`` is a token by itself."""

    run: np.ndarray
    split: np.ndarray


def _table(chars: str) -> np.ndarray:
    t = np.zeros(256, dtype=bool)
    t[[ord(c) for c in chars]] = True
    return t


WORD = Classes(run=_table(string.ascii_letters + string.digits + "_"), split=_table(""))
_ASCII_SPACE = "".join(c for c in map(chr, range(128)) if c.isspace())
TOKEN = Classes(run=~_table(_ASCII_SPACE + PUNCTUATION) & _table(map(chr, range(128))),
                split=_table(PUNCTUATION))


class Scan(NamedTuple):
    """The tokens of some ASCII documents, in document order.

    ``doc`` (n,) int64: index of each token's document (into the list given to
    :func:`scan`); ``keys`` (n,) uint64: the key of each short token (0 for long ones);
    ``short`` (n,) bool; ``long`` list[str]: the long tokens in order; ``starts``,
    ``lengths``: byte offsets into ``buf`` (the joined block texts, one bytes object per
    token: ``block[i]``).
    """

    doc: np.ndarray
    keys: np.ndarray
    short: np.ndarray
    long: list[str]
    starts: np.ndarray
    lengths: np.ndarray
    block: np.ndarray
    bufs: list[bytes]

    def __len__(self) -> int:
        return len(self.doc)

    def text(self, i: int) -> str:
        """Token ``i`` as a str (for tests and debugging)."""
        s = int(self.starts[i])
        return self.bufs[self.block[i]][s:s + int(self.lengths[i])].decode("ascii")

    @staticmethod
    def text_of_key(key: int) -> str:
        n = key >> 56
        return (key & ((1 << 56) - 1)).to_bytes(7, "little")[:n].decode("ascii")


def key_of(word: str) -> int | None:
    """The key of ``word`` if it is ASCII and at most :data:`MAX_SHORT` long, else None."""
    if not word.isascii() or not 0 < len(word) <= MAX_SHORT:
        return None
    return int.from_bytes(word.encode("ascii"), "little") | (len(word) << 56)


class KeyTable:
    """An exact hash table from uint64 keys to int64 values, probed in NumPy.

    Open addressing with linear probing in a power-of-two table at most 1/4 full; a key's
    home slot is the top bits of ``key * 0x9E3779B97F4A7C15`` (Fibonacci hashing).  A
    lookup of n keys is a few vectorized rounds (gather, compare, advance the unresolved),
    most keys resolving in the first: several times faster than ``np.searchsorted`` on a
    sorted table, whose binary search misses the caches at every step.  Equality is
    checked on the whole key, so the answer is exact.
    """

    _MUL = np.uint64(0x9E3779B97F4A7C15)
    _EMPTY = np.uint64(0)   # no key is 0: every key has its length (>= 1) in the top byte

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        keys = np.asarray(keys, np.uint64)
        bits = max(int(4 * max(len(keys), 1) - 1).bit_length(), 4)
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._keys = np.zeros(1 << bits, np.uint64)
        self._values = np.zeros(1 << bits, np.int64)
        slot = self._home(keys)
        todo = np.arange(len(keys))
        while len(todo):
            s = slot[todo]
            free = self._keys[s] == self._EMPTY
            # of the keys that want the same free slot, the first takes it
            s_free, first = np.unique(s[free], return_index=True)
            won = todo[free][first]
            self._keys[s_free], self._values[s_free] = keys[won], values[won]
            placed = np.zeros(len(keys), bool)
            placed[won] = True
            todo = todo[~placed[todo]]
            slot[todo] = (slot[todo] + 1) & self._mask

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys * self._MUL) >> self._shift).astype(np.int64)

    def get(self, keys: np.ndarray, missing: int) -> np.ndarray:
        """The value of each key, ``missing`` for keys not in the table."""
        keys = np.asarray(keys, np.uint64)
        slot = self._home(keys)
        k = self._keys[slot]                    # first round without an index array
        hit = k == keys
        out = np.where(hit, self._values[slot], missing)
        todo = np.flatnonzero(~hit & (k != self._EMPTY))
        slot[todo] = (slot[todo] + 1) & self._mask
        while len(todo):
            s = slot[todo]
            k = self._keys[s]
            hit = k == keys[todo]
            out[todo[hit]] = self._values[s[hit]]
            todo = todo[~hit & (k != self._EMPTY)]   # an empty slot: the key is absent
            slot[todo] = (slot[todo] + 1) & self._mask
        return out


def key_table(words: list[str], values: np.ndarray) -> KeyTable:
    """A :class:`KeyTable` from the keys of the short ASCII ``words`` to their ``values``."""
    pairs = [(key_of(w), v) for w, v in zip(words, values.tolist())]
    pairs = [kv for kv in pairs if kv[0] is not None]
    return KeyTable(np.array([kv[0] for kv in pairs], dtype=np.uint64),
                    np.array([kv[1] for kv in pairs], dtype=np.int64))


def scan(docs: list[str], classes: Classes, *, lowercase: bool, min_len: int = 1,
         line_breaks=None, limit: int | None = None, last: bool = False) -> Scan:
    """Tokenize ASCII ``docs`` (every ``d.isascii()`` must hold) with ``classes``.

    ``lowercase``: lowercase first (ASCII lowercasing equals ``str.lower`` on ASCII);
    ``line_breaks``: a compiled pattern replaced by a space after lowercasing (the
    ``<br />`` rule); ``min_len``: drop shorter runs (only without split bytes);
    ``limit``: keep only the first (or with ``last=True`` the last) ``limit`` tokens of
    each document, before any key or str is made for them.
    """
    if min_len > 1 and classes.split.any():
        raise ValueError("min_len applies to runs only: use it without split bytes")
    parts: dict[str, list] = {k: [] for k in ("doc", "keys", "short", "starts", "lens", "block")}
    long: list[str] = []
    bufs: list[bytes] = []
    start = 0
    while start < len(docs):
        stop, size = start, 0
        while stop < len(docs) and (stop == start or size + len(docs[stop]) < _BLOCK_CHARS):
            size += len(docs[stop]) + 1
            stop += 1
        block = docs[start:stop]
        if lowercase:
            block = [d.lower() for d in block]
        if line_breaks is not None:
            block = [line_breaks.sub(" ", d) for d in block]
        text = "\n".join(block)
        raw = text.encode("ascii")
        st, ln = _tokens(raw, classes, min_len)
        # each document starts one byte (the separator) after the previous one ends
        first = np.zeros(len(block), np.int64)
        np.cumsum(np.fromiter(map(len, block[:-1]), np.int64, len(block) - 1) + 1,
                  out=first[1:])
        doc = np.searchsorted(first, st, side="right") - 1
        if limit is not None:
            counts = np.bincount(doc, minlength=len(block))
            pos = np.arange(len(doc)) - (np.cumsum(counts) - counts)[doc]
            kept = pos >= (counts - limit)[doc] if last else pos < limit
            doc, st, ln = doc[kept], st[kept], ln[kept]
        parts["doc"].append(doc + start)
        short = ln <= MAX_SHORT
        keys = np.zeros(len(st), np.uint64)
        if short.any():
            padded = np.frombuffer(raw + bytes(8), np.uint8)
            win = np.lib.stride_tricks.sliding_window_view(padded, 8)[st[short]]
            keys[short] = (np.ascontiguousarray(win).view("<u8").ravel() & _MASKS[ln[short]]
                           ) | (ln[short].astype(np.uint64) << np.uint64(56))
        long += [text[s:e] for s, e in zip(st[~short].tolist(), (st + ln)[~short].tolist())]
        parts["keys"].append(keys)
        parts["short"].append(short)
        parts["starts"].append(st)
        parts["lens"].append(ln)
        parts["block"].append(np.full(len(st), len(bufs), np.int32))
        bufs.append(raw)
        start = stop
    cat = {k: np.concatenate(v) if v else np.zeros(0, t) for (k, v), t in
           zip(parts.items(), (np.int64, np.uint64, bool, np.int64, np.int64, np.int32))}
    return Scan(doc=cat["doc"], keys=cat["keys"], short=cat["short"], long=long,
                starts=cat["starts"], lengths=cat["lens"], block=cat["block"], bufs=bufs)


def _tokens(raw: bytes, classes: Classes, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``(start, length)`` of every token of one joined block, in order."""
    b = np.frombuffer(raw, np.uint8)
    run = classes.run[b]
    edges = np.diff(run.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    rs, re_ = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if min_len > 1:
        keep = re_ - rs >= min_len
        rs, re_ = rs[keep], re_[keep]
    if not classes.split.any():
        return rs.astype(np.int64), (re_ - rs).astype(np.int64)
    split = classes.split[b]
    flags = split.copy()
    flags[rs] = True
    st = np.flatnonzero(flags)            # run starts and split bytes, in order
    ln = np.ones(len(st), np.int64)
    ln[~split[st]] = re_ - rs             # the k-th run start among st is rs[k]
    return st.astype(np.int64), ln


def merge_by_doc(a_rows: np.ndarray, a_vals: np.ndarray, b_rows: np.ndarray,
                 b_vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interleave two token streams, each in document order and with no document in both,
    into one stream in document order: ``(rows, vals)``.

    Token ``j`` of ``b`` lands after the tokens of ``a`` whose documents come before its
    own (``np.searchsorted``): linear work, no sort.
    """
    if not len(b_rows):
        return a_rows, a_vals
    if not len(a_rows):
        return b_rows, b_vals
    at_b = np.arange(len(b_rows)) + np.searchsorted(a_rows, b_rows)
    at_a = np.ones(len(a_rows) + len(b_rows), bool)
    at_a[at_b] = False
    rows = np.empty(len(at_a), np.int64)
    vals = np.empty(len(at_a), a_vals.dtype)
    rows[at_b], vals[at_b] = b_rows, b_vals
    rows[at_a], vals[at_a] = a_rows, a_vals
    return rows, vals
