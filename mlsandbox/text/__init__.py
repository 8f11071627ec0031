"""Text processing: the word tokenizer, vocabularies and id sequences, TF-IDF features.

>>> from mlsandbox.text import TfidfVectorizer, Vocabulary, tokenize
>>> tokenize("Great acting.<br /><br />Don't miss it!")
['great', 'acting', '.', "don't", 'miss', 'it', '!']
>>> vocab = Vocabulary.fit(["great acting", "great plot"], max_tokens=4)
>>> vocab.encode(["great plot twist"], length=4)
array([[2, 1, 1, 0]])
>>> X = TfidfVectorizer(backend="numpy").fit_transform(["great acting", "great plot"])
>>> X.shape
(2, 3)

Public API::

    tokenize(text) -> list[str]              # lowercase, <br /> out, punctuation split off
    tokenize_many(texts) -> list[list[str]]
    standardize(text) -> str                 # the same rule, as a string
    tf_standardize(tf_strings)               # the same rule in tf.strings (for Keras)
    Vocabulary.fit(texts, max_tokens) / Vocabulary(words)
        .tokens .index .encode(texts, length) .lookup .decode .save .load
    vectorize(texts, vocab, length) -> (n, length) int64
    TfidfVectorizer(backend="numpy" | "jax", **sklearn_params)
    KERAS_CONVENTIONS                        # where Keras's TextVectorization differs
    mask_tokens(input_ids, attention_mask, special_ids=, mask_id=, vocab_size=,
                mlm_probability=0.15, seed=, step=) -> (masked ids, labels)   # BERT 80/10/10

The datasets (IMDB, Rotten Tomatoes, the shipped corpus) are in :mod:`mlsandbox.data`.
"""

from mlsandbox.text.conventions import KERAS_CONVENTIONS
from mlsandbox.text.mlm import mask_tokens
from mlsandbox.text.tfidf import BACKENDS, TfidfVectorizer
from mlsandbox.text.tokenize import (PUNCTUATION, standardize, tf_standardize, tokenize,
                                     tokenize_many)
from mlsandbox.text.vocab import OOV_ID, OOV_TOKEN, PAD_ID, PAD_TOKEN, Vocabulary, vectorize

__all__ = [
    "tokenize", "tokenize_many", "standardize", "tf_standardize", "PUNCTUATION",
    "Vocabulary", "vectorize", "PAD_ID", "OOV_ID", "PAD_TOKEN", "OOV_TOKEN",
    "TfidfVectorizer", "BACKENDS", "KERAS_CONVENTIONS", "mask_tokens",
]
