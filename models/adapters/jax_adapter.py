"""The JAX/Flax backend: an ``nnx.Module`` run functionally, optax for training.

The module is split once into its graph definition; every call merges that graph with a
nested dict of canonical params (``"dense1.kernel"`` -> ``{"dense1": {"kernel": ...}}``),
so the same jitted function serves any params of the same dtype.  Training jits the whole
step (value_and_grad, optax update) with the params and optimizer state donated, and a
run of equal-shaped batches is fused into one ``lax.scan`` (no host round trip per step).
"""

from __future__ import annotations

import numpy as np

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


class JaxNetwork(Network):
    """Subclasses set ``module``: an ``nnx.Module`` class built as
    ``module(spec, dtype=..., rngs=...)``."""

    backend = "jax"
    module: type = None

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

    def apply(self, tree, x):
        """Logits of the module holding ``tree`` (nested params) on ``x``; traceable."""
        dtype = x.dtype.name if hasattr(x.dtype, "name") else str(x.dtype)
        return nnx.merge(self.graphdef(dtype), tree)(x)

    def loss(self, tree, x, y):
        logits = self.apply(tree, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

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
        pure = nnx.to_pure_dict(nnx.state(native, nnx.Param))
        flat = flatten(pure)
        return {k: np.asarray(flat[k]) for k in self.spec.param_shapes()}

    def _tree(self, params):
        return nest({k: jnp.asarray(v) for k, v in params.items()})

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, x):
        fwd = self._jitted("forward", lambda: jax.jit(self.apply))
        return fwd(self._tree(params), jnp.asarray(x))

    def _loss_and_grads(self, params, x, y):
        vg = self._jitted("vg", lambda: jax.jit(jax.value_and_grad(self.loss)))
        loss, grads = vg(self._tree(params), jnp.asarray(x), jnp.asarray(y))
        return loss, flatten(grads)

    def optimizer(self, name: str, hyper: dict):
        """The optax transformation for canonical optimizer ``name``."""
        if name == "sgd":
            return optax.sgd(hyper["lr"], momentum=hyper["momentum"] or None,
                             nesterov=hyper["nesterov"])
        raise ValueError(f"optimizer {name!r} has no optax mapping yet")

    def step_fn(self, name: str, hyper: dict):
        """``step(tree, opt_state, x, y) -> (tree, opt_state, loss)``, pure."""
        tx = self.optimizer(name, hyper)
        
        def step(tree, opt_state, x, y):
            loss, grads = jax.value_and_grad(self.loss)(tree, x, y)
            updates, opt_state = tx.update(grads, opt_state, tree)
            return optax.apply_updates(tree, updates), opt_state, loss

        return tx, step

    def run_fn(self, name: str, hyper: dict, steps: int | None = None):
        """A jitted fused run: ``run(tree, opt_state, xs, ys) -> (tree, opt_state, losses)``.

        With ``steps`` the same ``(x, y)`` is used for every step (full-batch GD);
        otherwise ``xs``/``ys`` carry a leading step axis and the scan walks it.
        """
        key = ("run", name, tuple(sorted(hyper.items())), steps)

        def make():
            tx, step = self.step_fn(name, hyper)
            lax = jax.lax

            def run(tree, opt_state, xs, ys):
                if steps is not None:
                    def body(carry, _):
                        t, s, loss = step(*carry, xs, ys)
                        return (t, s), loss
                    (tree, opt_state), losses = lax.scan(body, (tree, opt_state), None,
                                                         length=steps)
                else:
                    def body(carry, xy):
                        t, s, loss = step(*carry, *xy)
                        return (t, s), loss
                    (tree, opt_state), losses = lax.scan(body, (tree, opt_state), (xs, ys))
                return tree, opt_state, losses

            return tx, jax.jit(run, donate_argnums=(0, 1))

        return self._jitted(key, make)

    def jit_step(self, name: str, hyper: dict):
        """The per-step jitted update (params and state donated) and its optax object."""
        key = ("step", name, tuple(sorted(hyper.items())))

        def make():
            tx, step = self.step_fn(name, hyper)
            return tx, jax.jit(step, donate_argnums=(0, 1))

        return self._jitted(key, make)

    def _train(self, params, source, optimizer, hyper):
        tree = self._tree(params)
        if isinstance(source, Repeat):
            tx, run = self.run_fn(optimizer, hyper, steps=len(source))
            x, y = jnp.asarray(source.batch["x"]), jnp.asarray(source.batch["y"])
            tree, _, losses = run(tree, tx.init(tree), x, y)
            return flatten(tree), np.asarray(losses)
        shapes = {(b["x"].shape, b["y"].shape) for b in source}
        if len(shapes) == 1:
            tx, run = self.run_fn(optimizer, hyper)
            xs = jnp.asarray(np.stack([b["x"] for b in source]))
            ys = jnp.asarray(np.stack([b["y"] for b in source]))
            tree, _, losses = run(tree, tx.init(tree), xs, ys)
            return flatten(tree), np.asarray(losses)
        tx, step = self.jit_step(optimizer, hyper)
        opt_state, losses = tx.init(tree), []
        for b in source:
            tree, opt_state, loss = step(tree, opt_state, jnp.asarray(b["x"]), jnp.asarray(b["y"]))
            losses.append(loss)
        return flatten(tree), np.asarray(jnp.stack(losses))
