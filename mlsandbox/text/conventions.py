"""Where Keras's ``TextVectorization`` differs from our tokenizer and :class:`Vocabulary`.

Each entry is a :class:`models.Convention` (topic, frameworks, difference, measured size,
the setting that makes them equal); ``tests/test_text_vocab.py`` has a
``test_convention_*`` test for each, and ``docs/text.md`` shows the table.  Sizes were
measured on the 25,000 IMDB training reviews with Keras 3.15 (TensorFlow backend).

>>> from mlsandbox.text import KERAS_CONVENTIONS
>>> [c.topic for c in KERAS_CONVENTIONS][:3]
['punctuation', 'line breaks', 'lowercasing']
"""

from __future__ import annotations

from models import Convention

KERAS_CONVENTIONS = (
    Convention(
        topic="punctuation",
        frameworks="ours vs Keras TextVectorization",
        difference="Keras's default standardize 'lower_and_strip_punctuation' deletes the 32 "
                   "ASCII punctuation characters (\"don't\" -> \"dont\", \"end.The\" -> "
                   "\"endthe\"); we split 31 of them off as tokens and keep the apostrophe "
                   "inside words (\"don't\", \"end\", \".\", \"the\")",
        size="24,999 of 25,000 reviews tokenize differently; 121,892 distinct Keras tokens "
             "against our 88,106",
        setting="TextVectorization(standardize=mlsandbox.text.tf_standardize, "
                "split='whitespace')"),
    Convention(
        topic="line breaks",
        frameworks="ours vs Keras TextVectorization",
        difference="Keras keeps IMDB's HTML line breaks: '<br />' becomes the token 'br' "
                   "after its punctuation strip; we replace every <br>, <br/>, <br /> by a "
                   "space",
        size="'br' is Keras's 12th most frequent word (57,106 times in 14,666 reviews)",
        setting="tf_standardize removes them with the same pattern (<br */?>)"),
    Convention(
        topic="lowercasing",
        frameworks="ours vs Keras TextVectorization",
        difference="Keras's 'lower' calls tf.strings.lower without an encoding: ASCII only "
                   "('ÉTÉ' -> 'ÉtÉ'); we use Python's str.lower (full Unicode)",
        size="17 reviews hold non-ASCII capitals",
        setting="tf_standardize calls tf.strings.lower(x, encoding='utf-8') (ICU), equal to "
                "str.lower on every IMDB review (and on 'İ', final sigma, 'ẞ')"),
    Convention(
        topic="whitespace",
        frameworks="ours vs Keras TextVectorization",
        difference="split='whitespace' (tf.strings.split) splits on ASCII whitespace only; "
                   "Python's str.split also on U+00A0, U+0085, U+1680, U+2000-U+200A, "
                   "U+2028/9, U+202F, U+205F, U+3000 and U+001C-U+001F",
        size="355 reviews hold U+00A0 or U+0085",
        setting="tf_standardize maps those characters to a space first"),
    Convention(
        topic="vocabulary ties",
        frameworks="ours vs Keras TextVectorization.adapt",
        difference="both rank words by count; at equal counts adapt orders tokens by "
                   "descending byte value (np.lexsort(...)[::-1]), we by ascending code "
                   "point (equal to ascending UTF-8 bytes)",
        size="max_tokens=20,000: the first difference at id 84 ('bad'/'get', 9,270 each), "
             "18,991 of the 20,000 ids differ, and the last count (10) is tied across the "
             "cut, so 469 words of ours are not in Keras's vocabulary",
        setting="pass our vocabulary: TextVectorization(vocabulary=vocab.tokens[2:])"),
    Convention(
        topic="reserved ids and max_tokens",
        frameworks="ours vs Keras TextVectorization",
        difference="none: id 0 is the padding token '' and id 1 the out-of-vocabulary "
                   "token '[UNK]' in both, and max_tokens counts both",
        size="0",
        setting="-"),
    Convention(
        topic="truncation and padding side",
        frameworks="TextVectorization vs keras.utils.pad_sequences",
        difference="TextVectorization(output_sequence_length=T) keeps the first T tokens and "
                   "pads after them ('post'/'post', our default); pad_sequences defaults to "
                   "truncating='pre' and padding='pre' (the last T tokens, zeros before)",
        size="IMDB at T=250: 9,288 training reviews are longer (cut at the other end), "
             "15,669 shorter (padded on the other side); only the 43 of exactly 250 tokens "
             "come out the same",
        setting="Vocabulary.encode(truncating=, padding=) takes either side"),
)
