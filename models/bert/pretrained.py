"""Hugging Face BERT checkpoints (local files only): :func:`models.from_pretrained`.

``path`` is a model directory as ``save_pretrained`` writes it (``config.json`` and
``model.safetensors``, or shards listed in ``model.safetensors.index.json``) or one
``.safetensors`` file (its config from a ``config.json`` beside it when there is one, else
from the keyword arguments alone).  Pickled ``pytorch_model.bin`` files are refused.

The config: the ``transformers.BertConfig`` fields of ``config.json`` that the spec has
(``num_labels`` from ``id2label``), then the keyword arguments over them.  Settings that
change the architecture into one not implemented here are refused by name
(``is_decoder``, ``add_cross_attention``, a ``position_embedding_type`` other than
``"absolute"``, ``tie_word_embeddings: false`` for bert_mlm, a ``model_type`` other than
``"bert"``); the rest of the file (``architectures``, ``use_cache``, versions) is ignored.

The tensors, mapped onto the canonical names:

* a ``BertModel`` file (keys ``embeddings.*``, ``encoder.*``, ``pooler.*``, as
  all-MiniLM-L6-v2's) gets the ``bert.`` prefix; files of the task classes have it;
* the legacy buffer ``embeddings.position_ids`` (older transformers saved it) is dropped,
  and Hugging Face's old names ``LayerNorm.gamma`` / ``.beta`` become ``.weight`` /
  ``.bias``;
* a tensor whose shape differs from the table's is refused by name, and so is a missing
  encoder tensor (embeddings, layers);
* a missing head (the masked-LM head of an encoder-only file, the classifier, the pooler;
  each wholly missing: part of one is refused) is initialised as Hugging Face initialises
  newly added weights (normal(0, initializer_range) dense weights, zero biases, LayerNorm 1
  and 0, the decoder tied to the word embeddings), drawn by
  ``spec.init(seed, dtype, names=<the missing names>)`` (a generator of its own, in table
  order), and listed in ``initialized``;
* tied copies (``cls.predictions.decoder.*``) absent from the file (``save_pretrained``
  leaves them out) are set to their sources; present, they must equal them;
* tensors the network has no place for (another task's head, the pooler for bert_mlm) are
  left out and listed in ``unused``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from models._spec import ContractError, check_dtype

#: checkpoint keys that are buffers, not parameters (dropped)
BUFFERS = ("embeddings.position_ids", "bert.embeddings.position_ids")
#: top-level modules of a BertModel file, which the task classes keep under "bert."
ENCODER_MODULES = ("embeddings.", "encoder.", "pooler.")


class Pretrained(NamedTuple):
    """What :func:`models.from_pretrained` returns."""

    #: the network in the requested backend (its spec holds the config)
    net: object
    #: canonical params in the requested dtype, for any backend
    params: dict
    #: names the checkpoint lacked, initialised from ``spec.init(seed, dtype)``
    initialized: tuple
    #: checkpoint tensors the network has no place for
    unused: tuple


def _files(path: Path) -> tuple[list[Path], Path | None]:
    """The safetensors files and the config.json of ``path``."""
    if path.is_dir():
        single, index = path / "model.safetensors", path / "model.safetensors.index.json"
        if single.is_file():
            files = [single]
        elif index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            files = [path / s for s in shards]
        elif (path / "pytorch_model.bin").exists():
            raise ContractError(f"{path} holds only pytorch_model.bin, a pickle, which is never "
                                f"loaded here; convert it to model.safetensors")
        else:
            raise FileNotFoundError(f"{path}: no model.safetensors (or "
                                    f"model.safetensors.index.json) in this directory")
        config = path / "config.json"
        return files, (config if config.is_file() else None)
    if path.is_file():
        if path.suffix != ".safetensors":
            raise ContractError(f"{path}: expected a .safetensors file or a model directory")
        config = path.parent / "config.json"
        return [path], (config if config.is_file() else None)
    raise FileNotFoundError(f"{path}: no such file or directory")


def hf_config(spec_cls, name: str, raw: dict) -> dict:
    """The spec fields of a ``config.json`` mapping; architecture changes refused."""
    def refuse(key, why):
        raise ContractError(f"{name}: config.json has {key}={raw[key]!r}: {why}")

    if raw.get("model_type", "bert") != "bert":
        refuse("model_type", "only 'bert' checkpoints are read")
    for key in ("is_decoder", "add_cross_attention"):
        if raw.get(key):
            refuse(key, "the decoder and cross-attention variants are not implemented")
    if raw.get("position_embedding_type", "absolute") != "absolute":
        refuse("position_embedding_type", "only absolute position embeddings are implemented")
    if name == "bert_mlm" and raw.get("tie_word_embeddings", True) is False:
        refuse("tie_word_embeddings", "bert_mlm ties its decoder to the word embeddings")
    fields = {f.name for f in dataclasses.fields(spec_cls)}
    out = {k: v for k, v in raw.items() if k in fields}
    if "num_labels" in fields and "num_labels" not in out and isinstance(raw.get("id2label"), dict):
        out["num_labels"] = len(raw["id2label"])
    return out


def read_tensors(files: list[Path]) -> dict[str, np.ndarray]:
    """Every tensor of ``files`` as NumPy arrays (safetensors, no pickles)."""
    from safetensors import safe_open

    out = {}
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: a checkpoint shard named by the index is missing")
        with safe_open(str(f), framework="np") as st:
            for k in st.keys():
                try:
                    out[k] = st.get_tensor(k)
                except (TypeError, ValueError) as exc:     # bfloat16 has no NumPy dtype
                    raise ContractError(f"{f}: tensor {k!r} cannot be read as a NumPy array "
                                        f"({exc}); save it as float32") from None
    return out


def canonical_names(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Checkpoint keys mapped onto the canonical (task-class) names: buffers dropped,
    ``gamma``/``beta`` renamed, the ``bert.`` prefix added to a BertModel file."""
    out = {}
    for k, v in tensors.items():
        if k in BUFFERS:
            continue
        k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta",
                                                                      "LayerNorm.bias")
        out[k] = v
    if not any(k.startswith("bert.") for k in out):
        out = {("bert." + k if k.startswith(ENCODER_MODULES) else k): v for k, v in out.items()}
    return out


def _group(key: str) -> str:
    """The head a parameter belongs to (initialised whole when a checkpoint lacks it)."""
    return "bert.pooler" if key.startswith("bert.pooler.") else key.split(".")[0]


def load(name: str, path, *, backend: str = "numpy", dtype="float32", seed: int = 0,
         **config) -> Pretrained:
    import models

    dtype = check_dtype(dtype)
    files, config_file = _files(Path(path))
    spec_cls = type(models.spec(name))
    raw = json.loads(config_file.read_text()) if config_file is not None else {}
    net = models.get(name, backend, **{**hf_config(spec_cls, name, raw), **config})
    spec = net.spec
    tensors = canonical_names(read_tensors(files))
    want = spec.param_shapes()
    tied = spec.tied()
    for copy, source in tied.items():
        if source not in tensors and copy in tensors:
            tensors[source] = tensors[copy]
    for k, v in tensors.items():
        if k in want and tuple(v.shape) != tuple(want[k]):
            raise ContractError(f"{name}: checkpoint tensor {k!r} has shape {tuple(v.shape)}, "
                                f"the config {spec.config()} needs {tuple(want[k])}")
    missing = [k for k in want if k not in tensors and k not in tied and spec.is_encoder(k)]
    if missing:
        raise ContractError(f"{name}: the checkpoint {path} lacks encoder tensors {missing}")
    fresh = [k for k in want if k not in tensors and k not in tied]
    partial = sorted({_group(k) for k in fresh} & {_group(k) for k in tensors if k in want})
    if partial:
        lacking = [k for k in fresh if _group(k) in partial]
        raise ContractError(f"{name}: the checkpoint {path} has part of {partial} but lacks "
                            f"{lacking}; a head is either loaded whole or initialised whole")
    init = spec.init(seed=seed, dtype=dtype, names=fresh) if fresh else {}
    params = {}
    for k in want:
        if k in tied:
            continue
        a = tensors[k] if k in tensors else init[k]
        if not np.issubdtype(a.dtype, np.floating):
            raise ContractError(f"{name}: checkpoint tensor {k!r} has dtype {a.dtype}, "
                                f"expected floating point")
        params[k] = np.ascontiguousarray(a, dtype=dtype)
    for copy, source in tied.items():
        if copy in tensors and not np.array_equal(np.asarray(tensors[copy], dtype), params[source]):
            raise ContractError(f"{name}: checkpoint tensor {copy!r} differs from {source!r}, "
                                f"but {name} ties them (one weight)")
    params = spec.tie(params)
    params = {k: params[k] for k in want}
    spec.check_params(params)
    unused = tuple(sorted(k for k in tensors if k not in want))
    return Pretrained(net, params, tuple(fresh), unused)
