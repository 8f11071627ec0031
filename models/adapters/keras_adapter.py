"""The Keras backend (TensorFlow unless ``KERAS_BACKEND`` says otherwise).

A ``keras.Model`` subclass per network, dtype set on every layer, Keras's own losses
(``SparseCategoricalCrossentropy(from_logits=True)`` and its kin) of the same dtype, and
one training step, :class:`KerasTrainer`, under ``tf.function`` (GradientTape +
``optimizer.apply_gradients``), the fast way TensorFlow users write a loop.  The spec's
penalties become what Keras users write: a ``regularizers.L2``/``L1`` on each declared
variable (``variable.regularizer``, as ``kernel_regularizer=`` sets it), whose losses
Keras collects in ``model.losses``; a penalty scaled by the batch size is written out.  Parameter names come from Keras variable
paths: ``"mlp/dense1/kernel"`` is canonical ``"dense1.kernel"``.

Known difference (the learning rate): Keras keeps ``learning_rate`` in a
float32 variable whatever the model's dtype, so lr=0.1 becomes 0.10000000149.  In float64
this adapter passes the learning rate as a float64 schedule, which keeps it exact.

Train mode is Keras's own ``training=True``; dropout masks are injected into the
:class:`Dropout` layers (a ``keras.layers.Dropout``) by layer name, as ``tf.function``
arguments so a new mask per step does not retrace.  Variables whose Keras path differs
from the canonical name are listed by the network in ``NAMES = {canonical: keras path}``
(a tied copy, ``spec.tied()``, names its source's variable: one variable, read and written
under both names), and variables stored in another layout than the canonical one in
``LAYOUT = {canonical: permutation}`` (``(1, 0)``: a Keras ``Dense`` kernel (in, out)
holding a canonical (out, in) weight); this adapter applies it to parameters, gradients
and optimizer slots both ways.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from kernels import schedules
from models.frameworks import load_keras
from models._network import Network, Trainer, step_seed

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
    #: keras.optimizers compute Keras's momentum form (v = μv - lr·g), Adam's epsilon-hat
    #: and RMSprop's eps inside the square root only
    FORMS = {"momentum_form": ("keras",), "eps_hat": (True,), "eps_in_sqrt": (True,)}
    DATA_PARALLEL = "tf.distribute.MirroredStrategy"
    module: type = None
    NAMES: dict[str, str] = {}
    #: canonical name -> the permutation taking the canonical array to the Keras variable
    LAYOUT: dict[str, tuple[int, ...]] = {}

    #: Set to False to let Keras keep its float32 learning-rate variable and its
    #: float32-rounded hyperparameters (for the test that measures the difference).
    exact_lr = True

    #: TensorFlow differentiates an embedding lookup into ``IndexedSlices`` (one row per
    #: position, repeated ids not summed), and Keras's optimizers then apply the update
    #: row by row: Adam's and RMSprop's squares are taken per position (Σg² instead of
    #: (Σg)² for a repeated id) and SGD momentum touches only the rows seen.  True hands
    #: them the dense gradient, the rule every other framework (and the reference)
    #: follows; False keeps Keras's sparse path (the convention test measures it).
    dense_gradients = True

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
        example = self.spec.example(n=1, dtype=dtype)
        model(*self.inputs(example))                       # creates the variables
        variables = self.variables(model)
        for p in self.spec.objective().penalties:          # the Keras way: regularizers
            if not p.per_example:
                for k in p.params:
                    variables[k].regularizer = REGULARIZERS[p.kind](p.strength)
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
        def canonical(path: str) -> str:   # "mlp/dense1/kernel" (subclassed model) or
            parts = path.split("/")           # "dense1/kernel" (Functional): "dense1.kernel"
            return ".".join(parts[1:] if parts[0] == model.name else parts)

        by_path = {canonical(v.path): v for v in model.weights}
        out = {k: by_path.get(self.NAMES.get(k, k)) for k in self.spec.param_shapes()}
        missing = [k for k, v in out.items() if v is None]
        if missing:
            raise KeyError(f"Keras model has no variables for {missing}; it has "
                           f"{sorted(by_path)}")
        return out

    def to_keras(self, name: str, a) -> np.ndarray:
        """The canonical array ``a`` of parameter ``name`` in its Keras variable's layout."""
        perm = self.LAYOUT.get(name)
        return np.asarray(a) if perm is None else np.transpose(a, perm)

    def from_keras(self, name: str, a) -> np.ndarray:
        """The inverse of :meth:`to_keras`: a Keras value (variable, gradient, optimizer
        slot) of parameter ``name`` in the canonical layout."""
        perm = self.LAYOUT.get(name)
        return np.array(a) if perm is None else np.array(np.transpose(a, np.argsort(perm)))

    def _load(self, params, model=None):
        model = model or self.model(np.asarray(next(iter(params.values()))).dtype.name)
        variables = self.variables(model)
        for k, v in params.items():
            variables[k].assign(self.to_keras(k, v))
        return model

    def to_native(self, params):
        return self._load(params, self._fresh(self.spec.check_params(params)))

    def from_native(self, native):
        variables = self.variables(native)
        return {k: self.from_keras(k, variables[k].numpy()) for k in self.spec.param_shapes()}

    def dropouts(self, model) -> dict:
        return {layer.name: layer for layer in model._flatten_layers()
                if isinstance(layer, Dropout)}

    def _call(self, model, inputs, train: bool, masks):
        """``model(*inputs, training=train)`` with ``masks`` injected by dropout layer name."""
        dropouts = self.dropouts(model)
        try:
            for name, layer in dropouts.items():
                object.__setattr__(layer, "_injected",
                                   None if masks is None else masks.get(name))
            return model(*inputs, training=train)
        finally:
            for layer in dropouts.values():
                object.__setattr__(layer, "_injected", None)

    def dropout_seeds(self, model, seed: int, step: int, *rank: int) -> np.ndarray:
        """The seed-generator states ``[[s_i, step], ...]`` of the dropout layers at
        ``(seed, step)`` (``s_i`` from ``(seed, layer index)``, and a data-parallel
        replica's ``rank``): Keras 3's Dropout draws from its own ``SeedGenerator``, not
        from ``tf.random.set_seed``."""
        n = len(self.seeded(model))
        return np.array([[step_seed(seed, i, *rank) % (2 ** 31 - 1), step] for i in range(n)],
                        dtype=np.int64).reshape(n, 2)

    def seeded(self, model) -> list:
        """The dropout layers that draw masks (Keras gives rate-0 layers no generator)."""
        return [layer for layer in self.dropouts(model).values()
                if getattr(layer, "seed_generator", None) is not None]

    def seed_dropout(self, model, seeds) -> None:
        for layer, s in zip(self.seeded(model), seeds):
            layer.seed_generator.state.assign(s)

    # -- the objective, once for every network ------------------------------------------
    def objective(self, model, logits, y, share=None, n=None, replicas: int = 1):
        """The spec's loss (Keras's losses) plus its penalties: the regularizers' losses
        Keras collects (``model.losses``) and the batch-size scaled ones, written out.

        A replica of a ``MirroredStrategy`` run, whose gradients are summed, passes
        ``share`` (its share of the global batch's predictions: ``compute_average_loss``'s
        weighting), ``n`` (the global batch size) and ``replicas`` (the penalties'
        divisor: ``scale_regularization_loss``)."""
        obj = self.spec.objective()
        loss = LOSSES[obj.loss](y, logits)
        if share is not None:
            if obj.loss in REPLICA_SCALED:   # Keras divided by the replica count already
                share = share * replicas
            loss = loss * keras.ops.cast(share, loss.dtype)
        penalty = 0.0
        if model.losses:
            penalty = keras.ops.sum(model.losses)
        scaled = [p for p in obj.penalties if p.per_example]
        if scaled:
            variables = self.variables(model)
            n = keras.ops.cast(keras.ops.shape(logits)[0] if n is None else n, logits.dtype)
            for p in scaled:
                for k in p.params:
                    w = variables[k]
                    term = keras.ops.sum(w * w) if p.kind == "l2" else keras.ops.sum(
                        keras.ops.abs(w))
                    penalty = penalty + self.constant(p.strength, logits.dtype) / n * term
        if replicas != 1 and (model.losses or scaled):
            penalty = penalty / self.constant(replicas, logits.dtype)
        return loss + penalty if (model.losses or scaled) else loss

    @staticmethod
    def constant(v: float, dtype):
        """``v`` as a tensor of ``dtype`` (exact in float64: no float32 constant between)."""
        dtype = keras.backend.standardize_dtype(dtype)
        return keras.ops.convert_to_tensor(np.asarray(v, dtype=dtype))

    def tensors(self, arrays: dict, masks) -> tuple:
        """``(inputs, y, masks)`` as TensorFlow tensors."""
        inputs = tuple(tf.constant(arrays[k]) for k in self.spec.inputs())
        y = tf.constant(arrays["y"]) if "y" in arrays else None
        return inputs, y, None if masks is None else {k: tf.constant(v)
                                                      for k, v in masks.items()}

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, batch, *, train=False, masks=None):
        model = self._load(params)
        if train:
            self.seed_dropout(model, self.dropout_seeds(model, 0, 0))
        return self._call(model, self.inputs(batch), train, masks).numpy()

    def _loss_and_grads(self, params, batch, *, train=False, masks=None):
        model = self._load(params)
        if train:
            self.seed_dropout(model, self.dropout_seeds(model, 0, 0))
        variables = self.variables(model)
        names = list(self.spec.trainable())
        inputs, y, m = self.tensors(batch, masks)
        with tf.GradientTape() as tape:
            loss = self.objective(model, self._call(model, inputs, train, m), y)
        grads = tape.gradient(loss, [variables[k] for k in names])
        # an embedding's gradient comes as IndexedSlices (rows and values): densified,
        # repeated ids summed
        return loss.numpy(), {k: self.from_keras(k, tf.convert_to_tensor(g).numpy())
                              for k, g in zip(names, grads)}

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
            return keras.optimizers.SGD(learning_rate=lr, momentum=h["momentum"],
                                        nesterov=h["nesterov"])
        if name in ("adam", "adamw"):
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
                        var.assign(self.to_keras(k, state[f"velocity/{k}"]))
                    else:
                        lr = schedules.lr_at(hyper["lr"], step)
                        var.assign(-lr * self.to_keras(k, state[f"momentum/{k}"]))
                else:
                    var.assign(self.to_keras(k, state[prefix + k]))

    def get_opt_state(self, opt, name: str, hyper: dict, wanted) -> dict:
        step = int(opt.iterations.numpy())
        out = {"step": np.array(step, dtype=np.int64)}
        names = self.spec.trainable()
        for prefix, slots in self._slots(opt, name).items():
            for k, var in zip(names, slots):
                a = self.from_keras(k, var.numpy())
                if prefix == "momentum":
                    if f"velocity/{k}" in wanted:
                        out[f"velocity/{k}"] = a
                    else:  # v = -lr·b at the rate of the last update
                        out[f"momentum/{k}"] = a / -schedules.lr_at(hyper["lr"], max(step - 1, 0))
                else:
                    out[prefix + k] = a
        return out



def _sparse_ce(y, z):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=z.dtype)(y, z)


def _binary_ce(y, z):
    t = keras.ops.cast(y[:, None], z.dtype)
    return keras.losses.BinaryCrossentropy(from_logits=True, dtype=z.dtype)(t, z)


def _masked_ce(y, z):
    keep = keras.ops.not_equal(y, -100)
    per = keras.losses.sparse_categorical_crossentropy(keras.ops.where(keep, y, 0), z,
                                                       from_logits=True)
    w = keras.ops.cast(keep, z.dtype)
    return keras.ops.sum(per * w) / keras.ops.maximum(keras.ops.sum(w), 1)  # none kept: 0


#: loss kind (models.Objective) -> Keras's loss on ``(y, logits)``, the mean
LOSSES = {"softmax_cross_entropy": _sparse_ce, "sigmoid_cross_entropy": _binary_ce,
          "masked_cross_entropy": _masked_ce}
#: the losses computed by a ``keras.losses.Loss`` object, which inside a replica of a
#: ``tf.distribute`` strategy divides the batch mean by ``num_replicas_in_sync`` (Keras's
#: ``scale_loss_for_distribution``: ``compute_average_loss`` for equal shards)
REPLICA_SCALED = frozenset({"softmax_cross_entropy", "sigmoid_cross_entropy"})

REGULARIZERS = {"l2": keras.regularizers.L2, "l1": keras.regularizers.L1}


def metrics(kind: str, logits, y, loss) -> dict:
    """``{"loss", "correct", "count"}`` as TensorFlow scalars (traceable)."""
    if kind == "sigmoid_cross_entropy":
        hit = tf.equal(tf.cast(logits[:, 0] > 0, y.dtype), y)
        return {"loss": loss, "correct": tf.reduce_sum(tf.cast(hit, tf.int64)),
                "count": tf.size(y, out_type=tf.int64)}
    hit = tf.equal(tf.argmax(logits, -1, output_type=y.dtype), y)
    if kind == "masked_cross_entropy":
        keep = tf.not_equal(y, -100)
        return {"loss": loss, "correct": tf.reduce_sum(tf.cast(hit & keep, tf.int64)),
                "count": tf.reduce_sum(tf.cast(keep, tf.int64))}
    return {"loss": loss, "correct": tf.reduce_sum(tf.cast(hit, tf.int64)),
            "count": tf.size(y, out_type=tf.int64)}


class KerasTrainer(Trainer):
    """Keras's custom training loop: a ``tf.function`` step with ``GradientTape`` and
    ``optimizer.apply_gradients``; the dropout layers' seed generators set to
    ``(seed, step)`` inside the step."""

    def _setup(self, params, opt_state):
        net = self.net
        self.strategy = _mirrored(self.devices) if self.devices > 1 else None
        with self.strategy.scope() if self.strategy else contextlib.nullcontext():
            self.model = model = net.to_native(params)
            variables = net.variables(model)
            trainable = [variables[k] for k in self.spec.trainable()]
            self.opt = opt = net.optimizer(self.optimizer, self.hyper, self.dtype)
            opt.build(trainable)
        net.set_opt_state(opt, self.optimizer, self.hyper, opt_state)
        kind = self.spec.objective().loss

        def step(inputs, y, masks, seeds, *replica):
            """One update; a replica of a MirroredStrategy run passes ``(share, n,
            replicas)`` on to :meth:`KerasNetwork.objective`."""
            net.seed_dropout(model, tf.unstack(seeds) if net.seeded(model) else ())
            with tf.GradientTape() as tape:
                logits = net._call(model, inputs, True, masks)
                loss = net.objective(model, logits, y, *replica)
            grads = tape.gradient(loss, trainable)
            if net.dense_gradients:
                grads = [tf.convert_to_tensor(g) for g in grads]
            opt.apply_gradients(zip(grads, trainable))
            return metrics(kind, logits, y, loss)

        if self.strategy is not None:
            self._parallel_setup(model, step)
        train_step = tf.function(step, reduce_retracing=True)

        @tf.function(reduce_retracing=True)
        def eval_step(inputs, y):
            logits = model(*inputs, training=False)
            return metrics(kind, logits, y, net.objective(model, logits, y))

        @tf.function(reduce_retracing=True)
        def predict(inputs):
            return model(*inputs, training=False)

        self._train, self._eval, self._fwd = train_step, eval_step, predict

    def _parallel_setup(self, model, step):
        """The ``MirroredStrategy`` step: each replica's loss weighted by its share of the
        global batch, the penalties divided among the replicas, Keras's optimizer summing
        the replicas' gradients; batch norm synchronized (the global batch's
        statistics)."""
        strategy, replicas = self.strategy, self.devices
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True

        @tf.function(reduce_retracing=True)
        def train_step(shards, n):
            per = strategy.run(step, args=(*shards, n, replicas))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                    for k, v in per.items()}

        self._train_parallel = train_step

    def _native(self, arrays, masks):
        return self.net.tensors(arrays, masks)

    def _shards(self, b, step):
        """The per-replica values of a global batch: each replica's contiguous shard, its
        dropout seeds ``(seed, step, rank)`` and its share of the predictions."""
        net, k = self.net, self.devices
        shares = self.spec.objective().shares(b.arrays["y"], k)
        parts = []
        for r in range(k):
            lo, hi = r * b.n // k, (r + 1) * b.n // k
            arrays = {name: v[lo:hi] for name, v in b.arrays.items()}
            masks = None if b.masks is None else {name: m[lo:hi] for name, m in b.masks.items()}
            inputs, ys, ms = net.tensors(arrays, masks)
            seeds = tf.constant(net.dropout_seeds(self.model, self.seed, step, r))
            share = tf.constant(shares[r], dtype=self.dtype)
            parts.append((inputs, ys, ms, seeds, share))
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: parts[ctx.replica_id_in_sync_group])

    def _step(self, b, step):
        if self.strategy is not None:
            return self._train_parallel(self._shards(b, step), tf.constant(b.n, tf.int64))
        inputs, y, masks = b.native
        seeds = tf.constant(self.net.dropout_seeds(self.model, self.seed, step))
        return self._train(inputs, y, masks, seeds)

    def _run_list(self, batches, step):
        return np.array([float(self._step(b, step + i)["loss"])
                         for i, b in enumerate(batches)])

    def _run_repeat(self, b, steps, step):
        return np.array([float(self._step(b, step + i)["loss"]) for i in range(steps)])

    def _evaluate(self, b):
        inputs, y, _ = b.native
        return self._eval(inputs, y)

    def _predict(self, b):
        out = self._fwd(b.native[0])
        if "GPU" in getattr(out, "device", ""):   # kernels run asynchronously on a GPU: wait for them
            tf.test.experimental.sync_devices()
        return out

    def _state(self):
        return (self.net.from_native(self.model),
                self.net.get_opt_state(self.opt, self.optimizer, self.hyper,
                                       set(self.state_names)))


KerasNetwork.Trainer = KerasTrainer


def _mirrored(devices: int):
    """A ``MirroredStrategy`` over the first ``devices`` logical devices (GPUs when
    there are enough, else CPUs); a ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG``
    describes a cluster."""
    import json
    import os

    from models._spec import ContractError

    if os.environ.get("TF_CONFIG"):   # a multi-worker run: one replica per worker device
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        if strategy.num_replicas_in_sync != devices:
            workers = len(json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
                          .get("worker", []))
            raise ContractError(f"devices={devices}, but the TF_CONFIG cluster of {workers} "
                                f"worker(s) has {strategy.num_replicas_in_sync} replicas")
        return strategy
    for kind in ("GPU", "CPU"):
        found = tf.config.list_logical_devices(kind)
        if len(found) >= devices:
            return tf.distribute.MirroredStrategy(
                devices=[d.name for d in found[:devices]],
                cross_device_ops=tf.distribute.ReductionToOneDevice() if kind == "CPU"
                else None)
    cpus = len(tf.config.list_logical_devices("CPU"))
    raise ContractError(f"devices={devices}: TensorFlow sees {cpus} logical CPU device(s) "
                        f"and no GPUs; simulate more with MLSANDBOX_CPU_DEVICES={devices} "
                        f"(models.frameworks.cpu_devices) before TensorFlow starts")


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


def environment() -> dict:
    """What a timing of this backend depends on: versions, TF's threads and oneDNN."""
    import os

    info = {"backend": "keras", "keras": keras.__version__,
            "keras_backend": keras.backend.backend()}
    if tf is not None:
        info.update(tensorflow=tf.__version__,
                    intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                    onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"))
    return info
