"""The JAX/Flax backend: an ``nnx.Module`` run functionally, optax for training.

The module is split once into its graph definition; every call merges that graph with a
nested dict of canonical params (``"dense1.kernel"`` -> ``{"dense1": {"kernel": ...}}``),
so the same jitted function serves any params of the same dtype.  Where nnx names a
variable differently from the canonical table (batch norm's ``scale``/``mean``), the
network lists it in ``NAMES = {canonical: nnx path}``.  Train mode is nnx's own
``module.train()`` (dropout active, batch statistics); the updated ``nnx.BatchStat``
values come back from the loss as auxiliary output, since the merged module is
temporary.  Training jits the whole
step (value_and_grad, optax update) with the params and optimizer state donated, and a
run of equal-shaped batches is fused into one ``lax.scan`` (no host round trip per step).
"""

from __future__ import annotations

import numpy as np

from kernels import schedules
from models._frameworks import load_flax
from models._network import Network, Repeat

jax, jnp, nnx, optax = load_flax()


def nest(flat: dict) -> dict:
    """``{"a.b": x}`` -> ``{"a": {"b": x}}``."""
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def flatten(tree: dict, prefix: str = "") -> dict:
    """Inverse of :func:`nest`."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def conv_relu(conv, x):
    """``relu(conv(x))``: a conv network's block as Flax users write it (the default of
    the modules' ``block=``; :func:`kernels.accel.conv.conv_relu` is the fused one)."""
    return nnx.relu(conv(x))


class Dropout(nnx.Dropout):
    """``nnx.Dropout`` that uses an injected 0/1 mask (or key) when the adapter sets one;
    the kept units are scaled by ``1/(1 - rate)`` as nnx does with its own mask."""

    def __call__(self, inputs, *, deterministic=None, rngs=None):
        injected = getattr(self, "_injected", None)
        det = self.deterministic if deterministic is None else deterministic
        if det or injected is None or self.rate == 0.0:
            return super().__call__(inputs, deterministic=deterministic, rngs=rngs)
        if isinstance(injected, dict):  # {"key": key}: nnx's own mask from this key
            return super().__call__(inputs, deterministic=False, rngs=injected["key"])
        return inputs * injected.astype(inputs.dtype) / (1.0 - self.rate)


class JaxNetwork(Network):
    """Subclasses set ``module``: an ``nnx.Module`` class built as
    ``module(spec, dtype=..., rngs=...)``, and ``NAMES`` where nnx's variable paths
    differ from the canonical names."""

    backend = "jax"
    module: type = None
    NAMES: dict[str, str] = {}

    def __init__(self, spec):
        super().__init__(spec)
        self._graphs: dict = {}
        self._fns: dict = {}

    def build(self, dtype, rngs):
        return self.module(self.spec, dtype=dtype, rngs=rngs)

    # -- the functional core ---------------------------------------------------------
    def graphdef(self, dtype: str):
        if dtype not in self._graphs:
            module = self.build(jnp.dtype(dtype), nnx.Rngs(0))
            self._graphs[dtype] = nnx.split(module)[0]
        return self._graphs[dtype]

    def apply(self, tree, x, train=False, masks=None, key=None):
        """Logits of the module holding ``tree`` (nested params) on ``x``; traceable."""
        return self.apply_state(tree, x, train, masks, key)[0]

    def apply_state(self, tree, x, train=False, masks=None, key=None):
        """``(logits, new nested batch stats)`` of the module holding ``tree``.

        In train mode each :class:`Dropout` takes ``masks[<its path>]`` when given, else
        a mask drawn by nnx from ``key`` folded with the layer's index.
        """
        dtype = x.dtype.name if hasattr(x.dtype, "name") else str(x.dtype)
        module = nnx.merge(self.graphdef(dtype), tree)
        if train:
            module.train()
        else:
            module.eval()
        dropouts = [(".".join(map(str, path)), m) for path, m in nnx.iter_modules(module)
                    if isinstance(m, Dropout)]
        if key is None:
            key = jax.random.PRNGKey(0)
        try:
            for i, (name, m) in enumerate(dropouts):
                inj = (masks[name] if masks is not None and name in masks
                       else {"key": jax.random.fold_in(key, i)})
                object.__setattr__(m, "_injected", inj)
            logits = module(x)
        finally:
            for _, m in dropouts:
                object.__setattr__(m, "_injected", None)
        stats = nnx.to_pure_dict(nnx.state(module, nnx.BatchStat)) if self.spec.state_names() \
            else {}
        return logits, stats

    def loss(self, tree, x, y, train=False, masks=None, key=None):
        return self.loss_state(tree, {}, x, y, train, masks, key)[0]

    def loss_state(self, ptree, stree, x, y, train=False, masks=None, key=None):
        """``(mean cross-entropy, new batch stats)``; differentiate w.r.t. ``ptree``.
        A network that overrides :meth:`loss` (its own objective, no mode-dependent
        layers) is called through it."""
        if type(self).loss is not JaxNetwork.loss:
            return self.loss(_merge(ptree, stree), x, y), {}
        logits, stats = self.apply_state(_merge(ptree, stree), x, train, masks, key)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss + self.penalty(ptree), stats

    def penalty(self, tree):
        """A term added to the loss (an L2 penalty on the nested params); 0 here."""
        return 0.0

    def _jitted(self, key, make):
        if key not in self._fns:
            self._fns[key] = make()
        return self._fns[key]

    def to_native(self, params):
        module = self.build(jnp.dtype(self.spec.check_params(params)), nnx.Rngs(0))
        graphdef, state = nnx.split(module)
        nnx.replace_by_pure_dict(state, self._tree(params))
        return nnx.merge(graphdef, state)

    def from_native(self, native):
        pure = nnx.to_pure_dict(nnx.state(native, nnx.Any(nnx.Param, nnx.BatchStat)))
        return self._flat(pure)

    def _tree(self, params):
        return nest({self.NAMES.get(k, k): jnp.asarray(v) for k, v in params.items()})

    def _flat(self, tree, names=None) -> dict:
        flat = flatten(tree)
        return {k: flat[self.NAMES.get(k, k)] for k in (names or self.spec.param_shapes())
                if self.NAMES.get(k, k) in flat}

    def _split(self, params):
        """Nested trainable params and nested state (batch stats)."""
        state = self.spec.state_names()
        return (self._tree({k: params[k] for k in self.spec.trainable()}),
                self._tree({k: params[k] for k in state}))

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, x, *, train=False, masks=None):
        fwd = self._jitted(("forward", train), lambda: jax.jit(
            lambda t, x, m: self.apply(t, x, train, m)))
        return fwd(self._tree(params), jnp.asarray(x), _jnp_masks(masks))

    def _loss_and_grads(self, params, x, y, *, train=False, masks=None):
        vg = self._jitted(("vg", train), lambda: jax.jit(
            lambda p, s, x, y, m: jax.value_and_grad(self.loss_state, has_aux=True)(
                p, s, x, y, train, m)))
        ptree, stree = self._split(params)
        (loss, _), grads = vg(ptree, stree, jnp.asarray(x), jnp.asarray(y), _jnp_masks(masks))
        return loss, self._flat(grads, self.spec.trainable())

    # -- optimizers ---------------------------------------------------------------------
    def optimizer(self, name: str, hyper: dict):
        """The optax transformation for canonical optimizer ``name``."""
        h = hyper
        lr = self.schedule(h["lr"])
        if name == "sgd":
            if h["momentum_form"] == "keras":
                raise ValueError("optax.sgd computes the torch momentum form only "
                                 "(b = μb + g, p -= lr·b); momentum_form='keras' is Keras's")
            return optax.sgd(lr, momentum=h["momentum"] or None, nesterov=h["nesterov"])
        if name in ("adam", "adamw") and h["eps_hat"]:
            raise ValueError("optax.adam adds eps to sqrt(nu_hat); eps_hat=True (Keras's "
                             "form) has no optax setting")
        if name == "adam":
            tx = optax.adam(lr, b1=h["beta1"], b2=h["beta2"], eps=h["eps"])
            if h["weight_decay"]:  # torch's coupled L2: λ·p added to the gradient first
                tx = optax.chain(optax.add_decayed_weights(h["weight_decay"]), tx)
            return tx
        if name == "adamw":
            return optax.adamw(lr, b1=h["beta1"], b2=h["beta2"], eps=h["eps"],
                               weight_decay=h["weight_decay"])
        if name == "rmsprop":
            eps_in_sqrt = True if h["eps_in_sqrt"] is None else h["eps_in_sqrt"]
            return optax.rmsprop(lr, decay=h["rho"], eps=h["eps"], eps_in_sqrt=eps_in_sqrt)
        raise ValueError(f"optimizer {name!r} has no optax mapping")

    #: optax.exponential_decay divides the int32 step count by ``transition_steps``; an
    #: integer there makes the whole schedule float32 even under x64.  True passes it as
    #: a float64 scalar (set False to measure the difference).
    exact_schedules = True

    def schedule(self, lr):
        """The optax schedule for a :mod:`kernels.schedules` schedule (or the float)."""
        f = np.float64 if self.exact_schedules else int
        if isinstance(lr, schedules.StepDecay):
            return optax.exponential_decay(lr.lr0, f(lr.step_size), lr.gamma, staircase=True)
        if isinstance(lr, schedules.Exponential):
            return optax.exponential_decay(lr.lr0, f(lr.decay_steps), lr.rate,
                                           staircase=lr.staircase)
        if isinstance(lr, schedules.Cosine):
            return optax.cosine_decay_schedule(lr.lr0, lr.decay_steps, alpha=lr.alpha)
        if isinstance(lr, schedules.Schedule):
            raise ValueError(f"schedule {type(lr).__name__} has no optax mapping")
        return lr

    #: optax state field -> canonical prefix ("nu" depends on the optimizer)
    FIELDS = {"trace": "momentum/", "mu": "adam/mu/"}

    def _prefix(self, field, name):
        if field == "nu":
            return "rmsprop/nu/" if name == "rmsprop" else "adam/nu/"
        return self.FIELDS.get(field)

    def set_opt_state(self, opt_state, name: str, state: dict):
        """A fresh optax state with every buffer and count taken from canonical ``state``."""
        names = self.spec.trainable()

        def walk(node):
            if isinstance(node, tuple) and hasattr(node, "_fields"):
                new = {}
                for f in node._fields:
                    v = getattr(node, f)
                    prefix = self._prefix(f, name)
                    if f == "count":
                        new[f] = jnp.asarray(state["step"], dtype=v.dtype)
                    elif prefix is not None:
                        new[f] = self._tree({k: state[prefix + k] for k in names})
                    else:
                        new[f] = walk(v)
                return type(node)(**new)
            if isinstance(node, (tuple, list)):
                return type(node)(walk(v) for v in node)
            return node

        return walk(opt_state)

    def get_opt_state(self, opt_state, name: str) -> dict:
        """The canonical state read from an optax state."""
        out = {}

        def walk(node):
            if isinstance(node, tuple) and hasattr(node, "_fields"):
                for f in node._fields:
                    v = getattr(node, f)
                    prefix = self._prefix(f, name)
                    if f == "count":
                        out["step"] = np.array(v, dtype=np.int64)
                    elif prefix is not None:
                        for k, a in self._flat(v, self.spec.trainable()).items():
                            out[prefix + k] = np.asarray(a)
                    else:
                        walk(v)
            elif isinstance(node, (tuple, list)):
                for v in node:
                    walk(v)

        walk(opt_state)
        return out

    def step_fn(self, name: str, hyper: dict):
        """``step(ptree, stree, opt_state, x, y, masks, key) -> (ptree, stree, opt_state,
        loss)``, pure (``stree``: batch stats; ``masks`` may be None)."""
        tx = self.optimizer(name, hyper)
        grad_fn = jax.value_and_grad(self.loss_state, has_aux=True)

        def step(ptree, stree, opt_state, x, y, masks, key):
            (loss, new_stats), grads = grad_fn(ptree, stree, x, y, True, masks, key)
            updates, opt_state = tx.update(grads, opt_state, ptree)
            return optax.apply_updates(ptree, updates), new_stats, opt_state, loss

        return tx, step

    def run_fn(self, name: str, hyper: dict, steps: int | None = None):
        """A jitted fused run: ``run(ptree, stree, opt_state, xs, ys, masks, keys) ->
        (ptree, stree, opt_state, losses)``.

        With ``steps`` the same ``(x, y, masks)`` is used for every step (full-batch GD);
        otherwise ``xs``/``ys``/``masks`` carry a leading step axis and the scan walks it.
        """
        key = ("run", name, tuple(sorted(hyper.items())), steps)

        def make():
            tx, step = self.step_fn(name, hyper)
            lax = jax.lax

            def run(ptree, stree, opt_state, xs, ys, masks, keys):
                if steps is not None:
                    def body(carry, k):
                        p, s, o, loss = step(*carry, xs, ys, masks, k)
                        return (p, s, o), loss
                    carry, losses = lax.scan(body, (ptree, stree, opt_state), keys)
                else:
                    def body(carry, xymk):
                        p, s, o, loss = step(*carry, *xymk)
                        return (p, s, o), loss
                    carry, losses = lax.scan(body, (ptree, stree, opt_state),
                                             (xs, ys, masks, keys))
                return (*carry, losses)

            return tx, jax.jit(run, donate_argnums=(0, 1, 2))

        return self._jitted(key, make)

    def jit_step(self, name: str, hyper: dict):
        """The per-step jitted update (params, stats and state donated) and its optax object."""
        key = ("step", name, tuple(sorted(hyper.items())))

        def make():
            tx, step = self.step_fn(name, hyper)
            return tx, jax.jit(step, donate_argnums=(0, 1, 2))

        return self._jitted(key, make)

    def _train(self, params, source, optimizer, hyper, opt_state):
        ptree, stree = self._split(params)
        step0 = int(opt_state["step"])
        n = len(source)
        keys = jax.vmap(lambda t: jax.random.fold_in(jax.random.PRNGKey(0), t))(
            jnp.arange(step0, step0 + n))
        if isinstance(source, Repeat):
            tx, run = self.run_fn(optimizer, hyper, steps=n)
            b = source.batch
            state = self.set_opt_state(tx.init(ptree), optimizer, opt_state)
            ptree, stree, state, losses = run(ptree, stree, state, jnp.asarray(b["x"]),
                                              jnp.asarray(b["y"]),
                                              _jnp_masks(b.get("masks")), keys)
        elif len({_signature(b) for b in source}) == 1:
            tx, run = self.run_fn(optimizer, hyper)
            state = self.set_opt_state(tx.init(ptree), optimizer, opt_state)
            xs = jnp.asarray(np.stack([b["x"] for b in source]))
            ys = jnp.asarray(np.stack([b["y"] for b in source]))
            masks = None
            if source[0].get("masks") is not None:
                masks = {k: jnp.asarray(np.stack([b["masks"][k] for b in source]))
                         for k in source[0]["masks"]}
            ptree, stree, state, losses = run(ptree, stree, state, xs, ys, masks, keys)
        else:
            tx, step = self.jit_step(optimizer, hyper)
            state = self.set_opt_state(tx.init(ptree), optimizer, opt_state)
            losses = []
            for b, k in zip(source, keys):
                ptree, stree, state, loss = step(ptree, stree, state, jnp.asarray(b["x"]),
                                                 jnp.asarray(b["y"]),
                                                 _jnp_masks(b.get("masks")), k)
                losses.append(loss)
            losses = jnp.stack(losses)
        out = {**self._flat(ptree, self.spec.trainable()),
               **self._flat(stree, self.spec.state_names())}
        canonical = self.get_opt_state(state, optimizer)
        canonical["step"] = np.array(step0 + n, dtype=np.int64)  # plain SGD keeps no count
        return out, np.asarray(losses), canonical


def _merge(a: dict, b: dict) -> dict:
    """Deep union of two nested dicts (trainable params and batch stats)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if k in out and isinstance(v, dict) else v
    return out


def _jnp_masks(masks):
    return None if masks is None else {k: jnp.asarray(v) for k, v in masks.items()}


def _signature(b) -> tuple:
    """What must agree for batches to share one scan: shapes and mask names."""
    masks = b.get("masks")
    return (b["x"].shape, b["y"].shape,
            tuple(sorted((k, v.shape) for k, v in masks.items())) if masks else None)
