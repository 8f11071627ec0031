"""The Keras backend (TensorFlow unless ``KERAS_BACKEND`` says otherwise).

A ``keras.Model`` subclass per network, dtype set on every layer, a
``SparseCategoricalCrossentropy(from_logits=True)`` loss of the same dtype, and a
custom training step under ``tf.function`` (GradientTape + ``optimizer.apply_gradients``),
the fast way TensorFlow users write a loop.  Parameter names come from Keras variable
paths: ``"mlp/dense1/kernel"`` is canonical ``"dense1.kernel"``.

Known difference (``models.KERAS_FLOAT32_LR``): Keras keeps ``learning_rate`` in a
float32 variable whatever the model's dtype, so lr=0.1 becomes 0.10000000149.  In float64
this adapter passes the learning rate as a float64 schedule, which keeps it exact.
"""

from __future__ import annotations

import functools

import numpy as np

from models._frameworks import load_keras
from models._network import Network, Repeat

keras, tf = load_keras()


class KerasNetwork(Network):
    """Subclasses set ``module``: a ``keras.Model`` class built as ``module(spec, dtype=...)``."""

    backend = "keras"
    module: type = None

    #: Set to False to let Keras keep its float32 learning-rate variable and its
    #: float32-rounded hyperparameters (for the test that measures the difference).
    exact_lr = True

    def __init__(self, spec):
        super().__init__(spec)
        self._models: dict = {}

    def build(self, dtype: str):
        return self.module(self.spec, dtype=dtype)

    def model(self, dtype: str):
        if dtype not in self._models:
            self._models[dtype] = self._fresh(dtype)
        return self._models[dtype]

    def _fresh(self, dtype: str):
        model = self.build(dtype)
        model(np.zeros((1, *self.spec.input_shape()), dtype=dtype))  # creates the variables
        return model

    def variables(self, model) -> dict:
        """Canonical name -> Keras variable, from the variable paths."""
        out = {".".join(v.path.split("/")[1:]): v for v in model.weights}
        missing = [k for k in self.spec.param_shapes() if k not in out]
        if missing:
            raise KeyError(f"Keras model has no variables for {missing}; it has {sorted(out)}")
        return out

    def _load(self, params, model=None):
        model = model or self.model(np.asarray(next(iter(params.values()))).dtype.name)
        variables = self.variables(model)
        for k, v in params.items():
            variables[k].assign(np.asarray(v))
        return model

    def to_native(self, params):
        return self._load(params, self._fresh(self.spec.check_params(params)))

    def from_native(self, native):
        variables = self.variables(native)
        return {k: np.array(variables[k].numpy()) for k in self.spec.param_shapes()}

    def loss_fn(self, dtype: str):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, x):
        model = self._load(params)
        return model(x, training=False).numpy()

    def _loss_and_grads(self, params, x, y):
        model = self._load(params)
        loss_fn = self.loss_fn(x.dtype.name)
        variables = self.variables(model)
        names = list(self.spec.param_shapes())
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, [variables[k] for k in names])
        return loss.numpy(), {k: g.numpy() for k, g in zip(names, grads)}

    def learning_rate(self, lr: float, dtype: str):
        if dtype == "float64" and self.exact_lr:
            return constant_schedule(lr, dtype)
        return lr

    def hyper(self, hyper: dict, dtype: str) -> dict:
        """Float hyperparameters as NumPy scalars of ``dtype``.

        Keras ``ops.cast(0.9, "float64")`` on TensorFlow goes through a float32 constant
        (0.9 -> 0.8999999762); a ``np.float64`` is converted exactly.
        """
        if dtype != "float64" or not self.exact_lr:
            return dict(hyper)
        return {k: (np.float64(v) if isinstance(v, float) else v) for k, v in hyper.items()}

    def optimizer(self, name: str, hyper: dict, dtype: str):
        h = self.hyper(hyper, dtype)
        if name == "sgd":
            return keras.optimizers.SGD(learning_rate=self.learning_rate(h["lr"], dtype),
                                        momentum=h["momentum"], nesterov=h["nesterov"])
        raise ValueError(f"optimizer {name!r} has no keras.optimizers mapping yet")

    def train_step(self, model, opt, loss_fn):
        """The ``tf.function`` training step ``step(x, y) -> loss``."""
        trainable = model.trainable_variables

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, trainable)
            opt.apply_gradients(zip(grads, trainable))
            return loss

        return step

    def _train(self, params, source, optimizer, hyper):
        dtype = np.asarray(next(iter(params.values()))).dtype.name
        model = self._load(params)
        opt = self.optimizer(optimizer, hyper, dtype)
        opt.build(model.trainable_variables)
        step = self.train_step(model, opt, self.loss_fn(dtype))
        fixed = None
        if isinstance(source, Repeat):
            fixed = (tf.constant(source.batch["x"]), tf.constant(source.batch["y"]))
        losses = [step(*(fixed or (b["x"], b["y"]))) for b in source]
        return self.from_native(model), np.array([float(v) for v in losses])


@functools.lru_cache(maxsize=None)
def _schedule_class():
    class ConstantSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """A constant learning rate returned in a chosen dtype (Keras would store float32)."""

        def __init__(self, lr, dtype):
            self.lr, self.dtype = lr, dtype

        def __call__(self, step):
            return keras.ops.convert_to_tensor(self.lr, dtype=self.dtype)

        def get_config(self):
            return {"lr": self.lr, "dtype": self.dtype}

    return ConstantSchedule


def constant_schedule(lr: float, dtype: str):
    """A Keras learning-rate schedule that returns ``lr`` in ``dtype`` at every step."""
    return _schedule_class()(lr, dtype)
