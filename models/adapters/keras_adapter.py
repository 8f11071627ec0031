"""The Keras backend (TensorFlow unless ``KERAS_BACKEND`` says otherwise).

A ``keras.Model`` subclass per network, dtype set on every layer, a
``SparseCategoricalCrossentropy(from_logits=True)`` loss of the same dtype, and a
custom training step under ``tf.function`` (GradientTape + ``optimizer.apply_gradients``),
the fast way TensorFlow users write a loop.  Parameter names come from Keras variable
paths: ``"mlp/dense1/kernel"`` is canonical ``"dense1.kernel"``.

Known difference (``models.KERAS_FLOAT32_LR``): Keras keeps ``learning_rate`` in a
float32 variable whatever the model's dtype, so lr=0.1 becomes 0.10000000149.  In float64
this adapter passes the learning rate as a float64 schedule, which keeps it exact.

Train mode is Keras's own ``training=True``; dropout masks are injected into the
:class:`Dropout` layers (a ``keras.layers.Dropout``) by layer name, as ``tf.function``
arguments so a new mask per step does not retrace.  Variables whose Keras path differs
from the canonical name are listed by the network in ``NAMES = {canonical: keras path}``.
"""

from __future__ import annotations

import functools

import numpy as np

from kernels import schedules
from models._frameworks import load_keras
from models._network import Network, Repeat

keras, tf = load_keras()


class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` that uses an injected 0/1 mask when the adapter sets one
    (scaled by ``1/(1 - rate)`` as Keras scales its own mask)."""

    def call(self, inputs, training=False):
        injected = getattr(self, "_injected", None)
        if training and injected is not None:
            return inputs * keras.ops.cast(injected, inputs.dtype) / (1.0 - self.rate)
        return super().call(inputs, training=training)


class KerasNetwork(Network):
    """Subclasses set ``module``: a ``keras.Model`` class built as ``module(spec, dtype=...)``."""

    backend = "keras"
    module: type = None
    NAMES: dict[str, str] = {}

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
        if dtype == "float64" and self.exact_lr:
            self.exact_constants(model)
        return model

    @staticmethod
    def exact_constants(model):
        """Python-float constants of layers as ``np.float64``: Keras multiplies a tensor by
        a Python float through a float32 constant (BatchNormalization's momentum 0.99 ->
        0.9900000095, ``regularizers.l2(0.01)`` -> 0.0099999998)."""
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = np.float64(layer.momentum)
        for v in model.weights:
            reg = getattr(v, "regularizer", None)
            for attr in ("l1", "l2"):
                if reg is not None and isinstance(getattr(reg, attr, None), float):
                    setattr(reg, attr, np.float64(getattr(reg, attr)))

    def variables(self, model) -> dict:
        """Canonical name -> Keras variable, from the variable paths."""
        by_path = {".".join(v.path.split("/")[1:]): v for v in model.weights}
        out = {k: by_path.get(self.NAMES.get(k, k)) for k in self.spec.param_shapes()}
        missing = [k for k, v in out.items() if v is None]
        if missing:
            raise KeyError(f"Keras model has no variables for {missing}; it has "
                           f"{sorted(by_path)}")
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

    def dropouts(self, model) -> dict:
        return {layer.name: layer for layer in model._flatten_layers()
                if isinstance(layer, Dropout)}

    def _call(self, model, x, train: bool, masks):
        """``model(x, training=train)`` with ``masks`` injected by dropout layer name."""
        dropouts = self.dropouts(model)
        try:
            for name, layer in dropouts.items():
                object.__setattr__(layer, "_injected",
                                   None if masks is None else masks.get(name))
            return model(x, training=train)
        finally:
            for layer in dropouts.values():
                object.__setattr__(layer, "_injected", None)

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, x, *, train=False, masks=None):
        model = self._load(params)
        return self._call(model, x, train, masks).numpy()

    def _loss_and_grads(self, params, x, y, *, train=False, masks=None):
        model = self._load(params)
        loss_fn = self.loss_fn(x.dtype.name)
        variables = self.variables(model)
        names = list(self.spec.trainable())
        with tf.GradientTape() as tape:
            loss = loss_fn(y, self._call(model, x, train, masks))
            if model.losses:  # the layers' regularizers, as Keras's own fit adds them
                loss = loss + keras.ops.sum(model.losses)
        grads = tape.gradient(loss, [variables[k] for k in names])
        return loss.numpy(), {k: g.numpy() for k, g in zip(names, grads)}

    def learning_rate(self, lr, dtype: str):
        """A float, or a Keras ``LearningRateSchedule`` for a :mod:`kernels.schedules`
        schedule; in float64 (``exact_lr``) every number is a ``np.float64`` so Keras
        computes the schedule in float64."""
        exact = dtype == "float64" and self.exact_lr
        f = np.float64 if exact else float
        s = keras.optimizers.schedules
        if isinstance(lr, schedules.StepDecay):
            return s.ExponentialDecay(f(lr.lr0), lr.step_size, f(lr.gamma), staircase=True)
        if isinstance(lr, schedules.Exponential):
            return s.ExponentialDecay(f(lr.lr0), lr.decay_steps, f(lr.rate),
                                      staircase=lr.staircase)
        if isinstance(lr, schedules.Cosine):
            return s.CosineDecay(f(lr.lr0), lr.decay_steps, alpha=f(lr.alpha))
        if isinstance(lr, schedules.Schedule):
            raise ValueError(f"schedule {type(lr).__name__} has no Keras mapping")
        if exact:
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
        """The ``keras.optimizers`` optimizer for canonical ``name``/``hyper``.  Keras
        computes its own forms only: momentum ``v = μv - lr·g`` (equal to torch's while
        lr is constant), Adam's epsilon-hat, RMSprop's eps inside the square root."""
        h = self.hyper(hyper, dtype)
        lr = self.learning_rate(h["lr"], dtype)
        if name == "sgd":
            if h["momentum_form"] == "torch" and h["momentum"] and \
                    isinstance(hyper["lr"], schedules.Schedule):
                raise ValueError("keras.optimizers.SGD computes v = μv - lr·g, p += v: under "
                                 "a changing learning rate that is not torch's form; pass "
                                 "momentum_form='keras' (or None)")
            return keras.optimizers.SGD(learning_rate=lr, momentum=h["momentum"],
                                        nesterov=h["nesterov"])
        if name in ("adam", "adamw"):
            if h["eps_hat"] is False:
                raise ValueError("keras.optimizers.Adam adds epsilon to sqrt(v) before the "
                                 "bias correction (epsilon hat); pass eps_hat=True (or None)")
            if name == "adam" and h["weight_decay"]:
                raise ValueError("keras.optimizers.Adam(weight_decay=) is decoupled, not "
                                 "torch's coupled L2; use 'adamw' or an L2 penalty")
            if name == "adam":
                return keras.optimizers.Adam(learning_rate=lr, beta_1=h["beta1"],
                                             beta_2=h["beta2"], epsilon=h["eps"])
            return keras.optimizers.AdamW(learning_rate=lr, beta_1=h["beta1"],
                                          beta_2=h["beta2"], epsilon=h["eps"],
                                          weight_decay=h["weight_decay"])
        if name == "rmsprop":
            if h["eps_in_sqrt"] is False:
                raise ValueError("keras.optimizers.RMSprop adds epsilon inside the square "
                                 "root; pass eps_in_sqrt=True (or None)")
            return keras.optimizers.RMSprop(learning_rate=lr, rho=h["rho"], epsilon=h["eps"])
        raise ValueError(f"optimizer {name!r} has no keras.optimizers mapping")

    def _slots(self, opt, name: str) -> dict:
        """Canonical state prefix -> the optimizer's list of slot variables."""
        if name == "sgd":
            return {"momentum": opt.momentums} if opt.momentums else {}
        if name in ("adam", "adamw"):
            return {"adam/mu/": opt._momentums, "adam/nu/": opt._velocities}
        return {"rmsprop/nu/": opt._velocities}

    def set_opt_state(self, opt, name: str, hyper: dict, state: dict):
        """Write a canonical state into the built optimizer.  Keras keeps SGD momentum as
        ``v = -lr·b``: the torch-form buffer is converted at the current rate."""
        step = int(state["step"])
        opt.iterations.assign(step)
        names = self.spec.trainable()
        for prefix, slots in self._slots(opt, name).items():
            for k, var in zip(names, slots):
                if prefix == "momentum":
                    if f"velocity/{k}" in state:
                        var.assign(np.asarray(state[f"velocity/{k}"]))
                    else:
                        lr = schedules.lr_at(hyper["lr"], step)
                        var.assign(-lr * np.asarray(state[f"momentum/{k}"]))
                else:
                    var.assign(np.asarray(state[prefix + k]))

    def get_opt_state(self, opt, name: str, hyper: dict, wanted) -> dict:
        step = int(opt.iterations.numpy())
        out = {"step": np.array(step, dtype=np.int64)}
        names = self.spec.trainable()
        for prefix, slots in self._slots(opt, name).items():
            for k, var in zip(names, slots):
                a = np.array(var.numpy())
                if prefix == "momentum":
                    if f"velocity/{k}" in wanted:
                        out[f"velocity/{k}"] = a
                    else:  # v = -lr·b at the rate of the last update
                        out[f"momentum/{k}"] = a / -schedules.lr_at(hyper["lr"], max(step - 1, 0))
                else:
                    out[prefix + k] = a
        return out

    def train_step(self, model, opt, loss_fn, trainable):
        """The ``tf.function`` training step ``step(x, y, masks) -> loss``."""

        @tf.function
        def step(x, y, masks):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, self._call(model, x, True, masks))
                if model.losses:
                    loss = loss + keras.ops.sum(model.losses)
            grads = tape.gradient(loss, trainable)
            opt.apply_gradients(zip(grads, trainable))
            return loss

        return step

    def _train(self, params, source, optimizer, hyper, opt_state):
        dtype = np.asarray(next(iter(params.values()))).dtype.name
        model = self._load(params)
        variables = self.variables(model)
        trainable = [variables[k] for k in self.spec.trainable()]
        opt = self.optimizer(optimizer, hyper, dtype)
        opt.build(trainable)
        self.set_opt_state(opt, optimizer, hyper, opt_state)
        step = self.train_step(model, opt, self.loss_fn(dtype), trainable)

        def tensors(b):
            m = b.get("masks")
            return (tf.constant(b["x"]), tf.constant(b["y"]),
                    None if m is None else {k: tf.constant(v) for k, v in m.items()})

        fixed = tensors(source.batch) if isinstance(source, Repeat) else None
        losses = [step(*(fixed or tensors(b))) for b in source]
        new_state = self.get_opt_state(opt, optimizer, hyper, set(opt_state))
        return self.from_native(model), np.array([float(v) for v in losses]), new_state


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
