"""The NumPy tokenizer for ASCII text and its exact hash table (mlsandbox.text.fastscan)."""

from __future__ import annotations

import re
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsandbox.text import fastscan, tokenize
from mlsandbox.text.fastscan import TOKEN, WORD, KeyTable, Scan, key_of, scan
from mlsandbox.text.tokenize import _LINE_BREAK

ASCII = st.lists(st.sampled_from(list(string.printable) + ["\x00", "\x1c", "\x7f", "<br />",
                                                          "<BR>", "aaaaaaaaaa"]),
                 max_size=60).map("".join)


def tokens_by_doc(sc: Scan, n: int) -> list[list[str]]:
    out = [[] for _ in range(n)]
    for i in range(len(sc)):
        out[sc.doc[i]].append(sc.text(i))
    return out


@settings(max_examples=150, deadline=None)
@given(docs=st.lists(ASCII, max_size=8), lowercase=st.booleans())
def test_word_scan_is_the_default_token_pattern(docs, lowercase):
    sc = scan(docs, WORD, lowercase=lowercase, min_len=2)
    pattern = re.compile(r"(?u)\b\w\w+\b")
    assert tokens_by_doc(sc, len(docs)) == [pattern.findall(d.lower() if lowercase else d)
                                            for d in docs]


@settings(max_examples=150, deadline=None)
@given(docs=st.lists(ASCII, max_size=8))
def test_token_scan_is_the_tokenizer(docs):
    sc = scan(docs, TOKEN, lowercase=True, line_breaks=_LINE_BREAK)
    assert tokens_by_doc(sc, len(docs)) == [tokenize(d) for d in docs]
    long = iter(sc.long)
    for i in range(len(sc)):   # short tokens round-trip through their keys, long ones are str
        if sc.short[i]:
            assert Scan.text_of_key(int(sc.keys[i])) == sc.text(i) and len(sc.text(i)) <= 7
        else:
            assert next(long) == sc.text(i) and len(sc.text(i)) > 7


@settings(max_examples=60, deadline=None)
@given(docs=st.lists(ASCII, max_size=6), limit=st.integers(1, 5), last=st.booleans())
def test_scan_limit_keeps_the_first_or_last_tokens(docs, limit, last):
    sc = scan(docs, TOKEN, lowercase=True, line_breaks=_LINE_BREAK, limit=limit, last=last)
    want = [tokenize(d)[-limit:] if last else tokenize(d)[:limit] for d in docs]
    assert tokens_by_doc(sc, len(docs)) == want


def test_scan_blocks_and_documents_with_newlines(monkeypatch):
    monkeypatch.setattr(fastscan, "_BLOCK_CHARS", 16)   # many blocks
    docs = ["first doc\nwith a newline", "", "x", "second\n\nthird line", "ok ok"] * 3
    sc = scan(docs, TOKEN, lowercase=True)
    assert tokens_by_doc(sc, len(docs)) == [tokenize(d) for d in docs]
    with pytest.raises(ValueError, match="min_len applies to runs only"):
        scan(docs, TOKEN, lowercase=True, min_len=2)


def test_keys_are_exact_and_distinct():
    words = ["a", "ab", "a\x00", "abcdefg", "b", "\x00", "abcdefgh", "é"]
    keys = [key_of(w) for w in words]
    assert keys[-2:] == [None, None]                   # too long, not ASCII
    assert len(set(keys[:-2])) == 6 and 0 not in keys  # "a" != "a\x00": the length is in it
    assert [Scan.text_of_key(k) for k in keys[:-2]] == words[:-2]


def test_key_table_equals_a_dict():
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(1, 2**56, 5000, dtype=np.int64).astype(np.uint64)
                     | np.uint64(3 << 56))
    values = rng.permutation(len(keys)).astype(np.int64)
    table = KeyTable(keys, values)
    queries = np.concatenate([keys, keys[::7], rng.integers(1, 2**62, 2000).astype(np.uint64)])
    want = dict(zip(keys.tolist(), values.tolist()))
    np.testing.assert_array_equal(table.get(queries, -1),
                                  [want.get(q, -1) for q in queries.tolist()])


def test_key_table_with_colliding_keys():
    """Keys with the same home slot probe on, and still resolve exactly."""
    cand = np.arange(1, 200_000, dtype=np.uint64) | np.uint64(1 << 56)
    sizing = KeyTable(cand[:12], np.arange(12))          # a table for 12 keys: 64 slots
    home = sizing._home(cand)
    same = cand[home == home[0]][:12]
    assert len(same) == 12
    table = KeyTable(same, np.arange(12))
    assert (table._home(same) == table._home(same)[0]).all()   # all want one slot
    np.testing.assert_array_equal(table.get(same[::-1], -1), np.arange(12)[::-1])
    np.testing.assert_array_equal(table.get(cand[:50], -1)[np.isin(cand[:50], same, invert=True)],
                                  -1)
    empty = KeyTable(np.zeros(0, np.uint64), np.zeros(0, np.int64))
    assert empty.get(same, -5).tolist() == [-5] * 12
