"""The word tokenizer of the text networks: lowercase, drop ``<br />``, split off punctuation.

>>> from mlsandbox.text import tokenize
>>> tokenize("A <b>great</b> film!<br /><br />Don't miss it (really).")
['a', '<', 'b', '>', 'great', '<', '/', 'b', '>', 'film', '!', "don't", 'miss', 'it', '(', 'really', ')', '.']

The rule, in this order (:func:`standardize` does steps 1-3 and returns a string):

1. **lowercase** with Python's ``str.lower`` (full Unicode case mapping: ``"É"`` becomes
   ``"é"``);
2. **line breaks**: every HTML ``<br>`` tag -- ``<br`` then any number of ASCII spaces, an
   optional ``/``, then ``>`` (``<br />``, ``<br/>``, ``<br>``; IMDB reviews hold 101,870 of
   them, all written ``<br />``) -- becomes one space;
3. **punctuation**: each of the 31 characters of :data:`PUNCTUATION` (``string.punctuation``,
   the ASCII punctuation, *without* the apostrophe) is split off as a token of its own;
   runs are not merged (``"!!"`` gives ``"!", "!"``).  The apostrophe ``'`` stays inside
   words, so contractions and possessives are one token (``"don't"``, ``"film's"``);
   non-ASCII punctuation (``…``, ``–``, ``“``, ``´``, ``’``) is not split either;
4. **whitespace**: split on runs of Unicode whitespace (``str.split()``: the characters for
   which ``str.isspace()`` holds, e.g. the no-break space U+00A0 and NEL U+0085, both in
   IMDB); no empty tokens.

:func:`tokenize_many` tokenizes a list at C speed (one regular-expression scan per text,
about 1 s for the 25,000 IMDB training reviews on one core); :func:`tf_standardize` is
the same standardization written with ``tf.strings`` ops, for Keras's
``TextVectorization(standardize=tf_standardize, split="whitespace")`` (see
:mod:`mlsandbox.text.vocab` for the comparison and ``docs/text.md`` for every difference
from Keras's defaults).
"""

from __future__ import annotations

import functools
import re
import string
import sys
from collections.abc import Iterable

#: The characters split off as tokens of their own: ``string.punctuation`` without ``'``.
PUNCTUATION = string.punctuation.replace("'", "")


_LINE_BREAK = re.compile(r"<br */?>")
_PUNCT_CLASS = "[" + re.escape(PUNCTUATION) + "]"
# A token is a run of characters that are neither whitespace (Python's \s is str.isspace)
# nor punctuation, or one punctuation character.  One findall does steps 3 and 4.
_TOKEN = re.compile(r"[^\s" + re.escape(PUNCTUATION) + r"]+|" + _PUNCT_CLASS)
_PUNCT = re.compile("(" + _PUNCT_CLASS + ")")


def standardize(text: str) -> str:
    """Steps 1-3 of the rule as a string: lowercased, ``<br />`` removed, punctuation padded
    with spaces.  ``standardize(t).split() == tokenize(t)``."""
    return _PUNCT.sub(r" \1 ", _LINE_BREAK.sub(" ", _check(text).lower()))


def tokenize(text: str) -> list[str]:
    """The tokens of one text (see the module docstring for the rule)."""
    return _TOKEN.findall(_LINE_BREAK.sub(" ", _check(text).lower()))


def tokenize_many(texts: Iterable[str]) -> list[list[str]]:
    """``[tokenize(t) for t in texts]``, with a clear error naming a non-string item."""
    texts = _as_list(texts)
    findall, sub = _TOKEN.findall, _LINE_BREAK.sub
    try:
        return [findall(sub(" ", t.lower())) for t in texts]
    except (AttributeError, TypeError):
        for i, t in enumerate(texts):
            _check(t, i)
        raise


def tf_standardize(inputs):
    """:func:`standardize` in ``tf.strings`` ops, plus Unicode whitespace mapped to spaces.

    Keras splits with ``tf.strings.split``, which only knows ASCII whitespace, so this maps
    every other character of :func:`unicode_whitespace` to a space as well; then
    ``TextVectorization(standardize=tf_standardize, split="whitespace")`` yields the tokens
    of :func:`tokenize`.  ``tf.strings.lower(..., encoding="utf-8")`` is ICU's full Unicode
    lowercasing (Keras's built-in ``"lower"`` passes no encoding and lowercases ASCII only).
    Imports TensorFlow.
    """
    from models.frameworks import load_keras

    _, tf = load_keras()
    x = tf.strings.lower(inputs, encoding="utf-8")
    x = tf.strings.regex_replace(x, r"<br */?>", " ")
    x = tf.strings.regex_replace(x, _PUNCT.pattern, r" \1 ")
    other = "".join(f"\\x{{{ord(c):x}}}" for c in unicode_whitespace() if c not in " \t\n\v\f\r")
    return tf.strings.regex_replace(x, f"[{other}]", " ")


@functools.cache
def unicode_whitespace() -> str:
    """Every character for which ``str.isspace()`` holds (what ``str.split()`` splits on)."""
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())


def _as_list(texts) -> list:
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"expected an iterable of texts (a list of str), got a single {type(texts).__name__}"
            f" {texts[:40]!r}; wrap it in a list"
        )
    return texts if isinstance(texts, list) else list(texts)


def _check(text, index: int | None = None) -> str:
    if not isinstance(text, str):
        where = "" if index is None else f" at index {index}"
        raise TypeError(f"expected a str text{where}, got {type(text).__name__} {text!r:.60}")
    return text
