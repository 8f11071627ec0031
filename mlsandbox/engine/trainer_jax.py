"""JAX/Flax trainer: pure ``train_step``/``eval_step`` functions under ``jax.jit``, optax
for the update, params and optimizer state donated, dropout keys folded from the step."""

from __future__ import annotations

from mlsandbox.engine import trainer
from models._frameworks import load_flax
from models.adapters.jax_adapter import _merge

jax, jnp, nnx, optax = load_flax()


class Trainer(trainer.Trainer):
    backend = "jax"

    def __init__(self, net, params, optimizer, hyper, opt_state, seed=0):
        super().__init__(net, params, optimizer, hyper, opt_state, seed)
        self.ptree, self.stree = net._split(params)
        self.tx = net.optimizer(optimizer, self.hyper)
        self.opt = net.set_opt_state(self.tx.init(self.ptree), optimizer, opt_state)
        self.key = jax.random.PRNGKey(seed)
        self.step0, self.steps = int(opt_state["step"]), 0
        self.has_stats = bool(self.spec.state_names())
        self._train = jax.jit(self.train_fn, donate_argnums=(0, 1, 2))
        self._eval = jax.jit(self.eval_fn)

    # -- the pure functions ------------------------------------------------------------
    def train_fn(self, ptree, stree, opt, x, y, key):
        def loss_fn(p):
            logits, stats = self.net.apply_state(_merge(p, stree), x, True, None, key)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, (logits, stats)

        (loss, (logits, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(ptree)
        updates, opt = self.tx.update(grads, opt, ptree)
        ptree = optax.apply_updates(ptree, updates)
        return ptree, (stats if self.has_stats else stree), opt, loss, \
            (logits.argmax(-1) == y).sum()

    def eval_fn(self, ptree, stree, x, y):
        logits = self.net.apply(_merge(ptree, stree), x, False)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (logits.argmax(-1) == y).sum()

    # -- the trainer ---------------------------------------------------------------------
    def train_step(self, x, y):
        key = jax.random.fold_in(self.key, self.step0 + self.steps)
        self.ptree, self.stree, self.opt, loss, correct = self._train(
            self.ptree, self.stree, self.opt, jnp.asarray(x), jnp.asarray(y), key)
        self.steps += 1
        return loss, correct

    def eval_step(self, x, y):
        return self._eval(self.ptree, self.stree, jnp.asarray(x), jnp.asarray(y))

    def state(self):
        params = self.net._flat(_merge(self.ptree, self.stree))
        opt_state = self.net.get_opt_state(self.opt, self.optimizer)
        opt_state.setdefault("step", self.step0 + self.steps)
        return ({k: jax.device_get(v) for k, v in params.items()},
                {k: jax.device_get(v) for k, v in opt_state.items()})
