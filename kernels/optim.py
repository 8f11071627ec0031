"""Optimizers, NumPy reference: one ``init`` and one ``update`` per rule.

The table :data:`OPTIMIZERS` gives each optimizer's canonical hyperparameter names and
defaults (``REQUIRED`` where there is none); every backend maps the same names onto its
own optimizer (``torch.optim``, ``optax``, ``keras.optimizers``).  ``lr`` is a float or a
:mod:`kernels.schedules` schedule.

The optimizer state is canonical too: a flat ``{str: ndarray}`` that every backend reads
and writes (:func:`state_names`):

==========================  ===========================================================
``"step"``                  number of updates done (int64 scalar); drives Adam's bias
                            correction and the schedules
``"momentum/<param>"``      SGD momentum buffer, torch form ``b`` (``p -= lr·b``)
``"velocity/<param>"``      SGD momentum, Keras form ``v`` (``p += v``), when
                            ``momentum_form="keras"``
``"adam/mu/<param>"``       first moment (Adam, AdamW)
``"adam/nu/<param>"``       second moment (Adam, AdamW)
``"rmsprop/nu/<param>"``    mean square (RMSprop)
==========================  ===========================================================

Forms that only some frameworks compute are hyperparameters of the reference, so each
framework is checked against the rule it really implements (the README's conventions
table gives the size of each difference).  ``None`` (the default) means "the framework's
own form" (for the NumPy reference: torch's); ``True``/``False``/a name is enforced, and a
backend that cannot compute the requested form raises ``ValueError`` saying so:

* ``momentum_form``: ``"torch"`` (torch, optax) or ``"keras"`` (Keras); equal while the
  learning rate is constant, so Keras accepts ``"torch"`` only with a constant rate.
* ``eps_hat``: Adam's ε added to ``√v`` before the bias correction (Keras) instead of to
  ``√v̂`` (torch, optax).
* ``eps_in_sqrt``: RMSprop's ε inside the square root (Keras; optax's default) instead of
  outside (torch).

>>> import numpy as np
>>> from kernels import optim
>>> p, g = {"w": np.array([1.0])}, {"w": np.array([0.5])}
>>> h = optim.resolve("sgd", {"lr": 0.1, "momentum": 0.9})
>>> s = optim.init("sgd", p, h)
>>> p, s = optim.update("sgd", p, g, s, h)
>>> p["w"], s["momentum/w"], int(s["step"])
(array([0.95]), array([0.5]), 1)
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from kernels.schedules import Schedule, lr_at

REQUIRED = object()

OPTIMIZERS: dict[str, dict] = {
    "sgd": {"lr": REQUIRED, "momentum": 0.0, "nesterov": False, "momentum_form": None},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
             "eps_hat": None},
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01,
              "eps_hat": None},
    "rmsprop": {"lr": 1e-2, "rho": 0.99, "eps": 1e-8, "eps_in_sqrt": None},
}

_FORMS = {"momentum_form": (None, "torch", "keras"), "eps_hat": (None, False, True),
          "eps_in_sqrt": (None, False, True)}


def resolve(name: str, hyper: Mapping) -> dict:
    """Validate ``name`` and ``hyper`` against :data:`OPTIMIZERS`; return all hypers."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    table = OPTIMIZERS[name]
    unknown = sorted(set(hyper) - set(table))
    if unknown:
        raise ValueError(f"optimizer {name!r} takes {sorted(table)}, not {unknown}")
    out = {}
    for k, default in table.items():
        if k in hyper:
            out[k] = hyper[k]
        elif default is REQUIRED:
            raise ValueError(f"optimizer {name!r} needs {k}=...")
        else:
            out[k] = default
    lr = out["lr"]
    if isinstance(lr, Schedule):
        _check_number(name, "lr", lr.lr0, 0.0, math.inf, "the schedule's initial lr ")
    else:
        out["lr"] = _check_number(name, "lr", lr, 0.0, math.inf)
    for k, (lo, hi, closed) in RANGES.items():
        if k in out:
            out[k] = _check_number(name, k, out[k], lo, hi, closed_high=closed)
    for k in ("nesterov",):
        if k in out and not isinstance(out[k], (bool, np.bool_)):
            raise ValueError(f"{name}: {k} must be True or False, got {out[k]!r}")
    for k, allowed in _FORMS.items():
        if k in out and out[k] not in allowed:
            raise ValueError(f"{name}: {k} must be one of {allowed}, got {out[k]!r}")
    if name == "sgd" and out["nesterov"] and not out["momentum"]:
        raise ValueError("sgd: nesterov=True needs momentum > 0")
    return out


#: hyperparameter -> (low, high, high included): every backend refuses the same values,
#: here, before any framework sees them (torch's own optimizers check some, optax and the
#: NumPy reference none, Keras a few)
RANGES = {
    "momentum": (0.0, 1.0, True),
    "beta1": (0.0, 1.0, False),
    "beta2": (0.0, 1.0, False),
    "rho": (0.0, 1.0, False),
    "eps": (0.0, math.inf, False),
    "weight_decay": (0.0, math.inf, False),
}


def _check_number(name, key, v, lo, hi, what="", closed_high=False):
    """``v`` as a float if it is a real number in ``[lo, hi)`` (``[lo, hi]`` with
    ``closed_high``), finite; else ValueError naming ``key``, the value and the range."""
    ok = (not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer,
                                                                  np.floating)))
    if ok:
        v = float(v)
        ok = math.isfinite(v) and lo <= v and (v <= hi if closed_high else v < hi)
    if not ok:
        high = "inf)" if hi == math.inf else (f"{hi}]" if closed_high else f"{hi})")
        raise ValueError(f"{name}: {what}{key} must be a finite number in [{lo}, {high}, "
                         f"got {v!r}")
    return v


#: forms that give the same updates while the learning rate is constant:
#: (hyperparameter, requested form, form the framework computes).  Keras's SGD keeps
#: ``v = -lr·b`` and converts the torch-form buffer at the current rate; the reverse
#: (a torch-form framework keeping Keras's velocity) has no state to write into.
EQUAL_WHILE_CONSTANT_LR = {("momentum_form", "torch", "keras")}


#: what each form computes (for the messages that refuse one)
FORM_MEANING = {
    ("momentum_form", "torch"): "the torch momentum form b = μb + g, p -= lr·b",
    ("momentum_form", "keras"): "Keras's momentum form v = μv - lr·g, p += v",
    ("eps_hat", True): "epsilon hat: ε added to √v before the bias correction, Keras's",
    ("eps_hat", False): "ε added to √v̂ after the bias correction, torch's and optax's",
    ("eps_in_sqrt", True): "ε inside the square root, √(s + ε)",
    ("eps_in_sqrt", False): "ε outside the square root, √s + ε",
}


def check_forms(name: str, hyper: Mapping, computes: Mapping[str, tuple], who: str) -> None:
    """Refuse a form in ``hyper`` that ``who`` cannot compute.

    ``computes`` is a backend's declared table ``{form: (values it computes, its own
    first)}``; ``None`` in ``hyper`` means "the framework's own form" and always passes.
    A form equal to the framework's own while the learning rate is constant
    (:data:`EQUAL_WHILE_CONSTANT_LR`) passes when ``lr`` is not a schedule.
    """
    for key in _FORMS:
        want = hyper.get(key)
        if key not in hyper or want is None or want in computes.get(key, (None,)):
            continue
        if key == "momentum_form" and not hyper.get("momentum"):
            continue                   # without momentum both forms are plain SGD
        own = computes[key][0]
        if (key, want, own) in EQUAL_WHILE_CONSTANT_LR and not isinstance(hyper["lr"], Schedule):
            continue
        extra = (", equal to it only while the learning rate is constant"
                 if (key, want, own) in EQUAL_WHILE_CONSTANT_LR else "")
        done = " or ".join(f"{key}={v!r} ({FORM_MEANING[key, v]})" for v in computes[key])
        raise ValueError(f"{who} computes {name} with {done} only, not {key}={want!r} "
                         f"({FORM_MEANING[key, want]}){extra}; pass {key}={own!r} (or None)")


def _prefixes(name: str, hyper: Mapping) -> list[str]:
    if name == "sgd":
        if not hyper.get("momentum"):
            return []
        return ["velocity/" if hyper.get("momentum_form") == "keras" else "momentum/"]
    if name in ("adam", "adamw"):
        return ["adam/mu/", "adam/nu/"]
    if name == "rmsprop":
        return ["rmsprop/nu/"]
    raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")


def state_names(name: str, params, hyper: Mapping) -> list[str]:
    """The canonical optimizer-state names for ``params`` (names or a dict)."""
    return ["step"] + [p + k for p in _prefixes(name, hyper) for k in params]


def init(name: str, params: Mapping[str, np.ndarray], hyper: Mapping) -> dict:
    """Fresh canonical state: ``step`` 0 and zero buffers shaped like ``params``."""
    out = {"step": np.array(0, dtype=np.int64)}
    for prefix in _prefixes(name, hyper):
        for k, v in params.items():
            out[prefix + k] = np.zeros_like(np.asarray(v))
    return out


def check_state(name: str, params: Mapping[str, np.ndarray], hyper: Mapping,
                state: Mapping) -> dict:
    """``state`` checked against :func:`state_names` (names, shapes, dtypes); a copy."""
    if not isinstance(state, Mapping):
        raise ValueError(f"opt_state must be a dict {{name: array}}, got {type(state).__name__}")
    want = state_names(name, params, hyper)
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    if missing or extra:
        raise ValueError(f"{name}: opt_state names do not match; missing {missing}, "
                         f"unexpected {extra}; expected {want}")
    ref = init(name, params, hyper)
    out = {}
    for k in want:
        a = np.array(state[k])
        if k == "step" and a.size == 1:  # a file format may store a scalar as shape (1,)
            a = a.reshape(())
        if a.shape != ref[k].shape:
            raise ValueError(f"{name}: opt_state {k!r} has shape {a.shape}, "
                             f"expected {ref[k].shape}")
        if k == "step":
            if a != np.round(a) or a < 0:
                raise ValueError(f"opt_state 'step' must be a non-negative integer, got {a}")
            a = a.astype(np.int64)
        elif a.dtype != ref[k].dtype:
            raise ValueError(f"{name}: opt_state {k!r} is {a.dtype}, the params are "
                             f"{ref[k].dtype}")
        out[k] = a
    return out


# ----------------------------------------------------------------------- the rules


def sgd_update(params, grads, state, *, lr, momentum=0.0, nesterov=False,
               momentum_form="torch"):
    """One SGD step at learning rate ``η = lr(t)``, ``t = state["step"]``.

    Without momentum: ``p ← p - η·g``.

    torch form (torch.optim.SGD, optax.sgd), buffer ``b`` (``b₀ = 0`` so ``b₁ = g``)::

        b ← μ·b + g;   p ← p - η·b              Nesterov: p ← p - η·(g + μ·b)

    Keras form (keras.optimizers.SGD), velocity ``v`` (``v₀ = 0``)::

        v ← μ·v - η·g; p ← p + v                Nesterov: p ← p + μ·v - η·g

    With a constant ``η`` the two are the same rule (``v = -η·b``).  When ``η`` changes,
    the torch form applies the new rate to the whole buffer at once while the Keras form
    keeps the old rates inside ``v``: the trajectories part.
    """
    t = int(state["step"])
    eta = lr_at(lr, t)
    new_params, new_state = {}, {"step": np.array(t + 1, dtype=np.int64)}
    for k, p in params.items():
        g = grads[k]
        if not momentum:
            new_params[k] = p - eta * g
        elif momentum_form == "keras":
            v = momentum * state[f"velocity/{k}"] - eta * g
            new_state[f"velocity/{k}"] = v
            new_params[k] = p + (momentum * v - eta * g if nesterov else v)
        else:
            b = momentum * state[f"momentum/{k}"] + g
            new_state[f"momentum/{k}"] = b
            new_params[k] = p - eta * (g + momentum * b if nesterov else b)
    return new_params, new_state


def adam_update(params, grads, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, eps_hat=False, decoupled=False):
    """One Adam step (Kingma & Ba), ``t = state["step"] + 1``, ``η = lr(t - 1)``::

        g ← g + λ·p                         (coupled L2: torch Adam(weight_decay=λ))
        m ← m + (1-β₁)(g - m)               (= β₁m + (1-β₁)g, torch's lerp)
        v ← β₂·v + (1-β₂)·g²
        p ← p - η · m̂ / (√v̂ + ε)          m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ)   (torch, optax)

    ``eps_hat=True`` is Keras's form (the paper's "efficient version")::

        p ← p - η·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε)

    i.e. torch's rule with ε replaced by ``ε/√(1-β₂ᵗ)`` (Keras's ε is the paper's
    ``ε̂ = ε·√(1-β₂ᵗ)``): a larger ε in the first steps, which matters while ``√v̂`` is
    not large next to ε.

    ``decoupled=True`` is AdamW (Loshchilov & Hutter): ``p ← p - η·λ·p`` before the Adam
    step, and λ is not added to the gradient.
    """
    t = int(state["step"]) + 1
    eta = lr_at(lr, t - 1)
    new_params, new_state = {}, {"step": np.array(t, dtype=np.int64)}
    bc1, bc2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
    for k, p in params.items():
        g = grads[k]
        if weight_decay and decoupled:
            p = p * (1.0 - eta * weight_decay)
        elif weight_decay:
            g = g + weight_decay * p
        m = state[f"adam/mu/{k}"]
        m = m + (1.0 - beta1) * (g - m)
        v = beta2 * state[f"adam/nu/{k}"] + (1.0 - beta2) * g * g
        new_state[f"adam/mu/{k}"], new_state[f"adam/nu/{k}"] = m, v
        if eps_hat:
            new_params[k] = p - (eta * math.sqrt(bc2) / bc1) * m / (np.sqrt(v) + eps)
        else:
            new_params[k] = p - (eta / bc1) * (m / (np.sqrt(v) / math.sqrt(bc2) + eps))
    return new_params, new_state


def adamw_update(params, grads, state, **hyper):
    """AdamW: :func:`adam_update` with ``decoupled=True`` (default λ = 0.01, torch's)."""
    return adam_update(params, grads, state, decoupled=True, **hyper)


def rmsprop_update(params, grads, state, *, lr, rho=0.99, eps=1e-8, eps_in_sqrt=False):
    """One RMSprop step (Hinton's lecture 6e), ``η = lr(t)``::

        s ← ρ·s + (1-ρ)·g²
        p ← p - η·g / (√s + ε)              (torch; optax eps_in_sqrt=False)
        p ← p - η·g / √(s + ε)              eps_in_sqrt=True (Keras; optax's default)

    Defaults differ too: torch α=0.99, ε=1e-8; Keras ρ=0.9, ε=1e-7; optax decay 0.9.
    """
    t = int(state["step"])
    eta = lr_at(lr, t)
    new_params, new_state = {}, {"step": np.array(t + 1, dtype=np.int64)}
    for k, p in params.items():
        g = grads[k]
        s = rho * state[f"rmsprop/nu/{k}"] + (1.0 - rho) * g * g
        new_state[f"rmsprop/nu/{k}"] = s
        denom = np.sqrt(s + eps) if eps_in_sqrt else np.sqrt(s) + eps
        new_params[k] = p - eta * g / denom
    return new_params, new_state


def _init_fn(name):
    def fn(params, **hyper):
        return init(name, params, resolve(name, hyper))
    fn.__name__ = f"{name}_init"
    fn.__doc__ = f"Fresh canonical state of {name} (see :func:`init`)."
    return fn


sgd_init, adam_init, adamw_init, rmsprop_init = (_init_fn(n) for n in OPTIMIZERS)

RULES = {
    "sgd": (sgd_init, sgd_update),
    "adam": (adam_init, adam_update),
    "adamw": (adamw_init, adamw_update),
    "rmsprop": (rmsprop_init, rmsprop_update),
}


def update(name: str, params, grads, state, hyper: Mapping):
    """One step of optimizer ``name``: ``(new params, new state)``; inputs unchanged."""
    return RULES[name][1](params, grads, state, **hyper)
