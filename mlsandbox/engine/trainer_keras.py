"""Keras trainer: ``tf.function`` steps with ``GradientTape`` and
``optimizer.apply_gradients``, the custom training loop of the Keras guides."""

from __future__ import annotations

from mlsandbox.engine import trainer
from models._frameworks import load_keras

keras, tf = load_keras()


class Trainer(trainer.Trainer):
    backend = "keras"

    def __init__(self, net, params, optimizer, hyper, opt_state, seed=0):
        super().__init__(net, params, optimizer, hyper, opt_state, seed)
        tf.random.set_seed(seed)                    # dropout's RNG
        self.model = model = net.to_native(params)
        variables = net.variables(model)
        trainable = [variables[k] for k in self.spec.trainable()]
        self.opt = opt = net.optimizer(optimizer, self.hyper, self.dtype)
        opt.build(trainable)
        net.set_opt_state(opt, optimizer, self.hyper, opt_state)
        self.names = set(opt_state)
        loss_fn = net.loss_fn(self.dtype)

        def correct(logits, y):
            return tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == y, tf.int64))

        @tf.function(reduce_retracing=True)
        def train_step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = loss_fn(y, logits)
            grads = tape.gradient(loss, trainable)
            opt.apply_gradients(zip(grads, trainable))
            return loss, correct(logits, y)

        @tf.function(reduce_retracing=True)
        def eval_step(x, y):
            logits = model(x, training=False)
            return loss_fn(y, logits), correct(logits, y)

        self._train, self._eval = train_step, eval_step

    def train_step(self, x, y):
        return self._train(tf.constant(x), tf.constant(y))

    def eval_step(self, x, y):
        return self._eval(tf.constant(x), tf.constant(y))

    def state(self):
        return (self.net.from_native(self.model),
                self.net.get_opt_state(self.opt, self.optimizer, self.hyper, self.names))
