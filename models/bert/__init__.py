"""BERT as Hugging Face builds it: ``bert_mlm`` (BertForMaskedLM) and ``bert_cls``
(BertForSequenceClassification), with the Hugging Face state dict as canonical parameters
(``spec.py``) and :func:`models.from_pretrained` reading its checkpoints
(``pretrained.py``).  ``docs/bert.md`` has the whole picture."""
