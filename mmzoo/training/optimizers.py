"""The optimizer and learning-rate schedule of a run, from its config's `training` section.

>>> from mmzoo.training.optimizers import make_optimizer
>>> training = {"epochs": 2, "optimizer": {"name": "adamw", "learning_rate": 1e-3,
...             "weight_decay": None, "clipnorm": None},
...             "schedule": {"name": "cosine", "warmup_epochs": 1, "alpha": 0.0}}
>>> optimizer = make_optimizer(training, steps_per_epoch=10)
>>> type(optimizer).__name__, round(float(optimizer.weight_decay), 3)
('AdamW', 0.004)
"""


import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmzoo")
class PhasedLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate (or schedule) scaled by `factor` from step `boundary` on.

    The second phase of fine-tuning: after the frozen warm-up epochs the pretrained
    towers train too, at a lower rate (keras.io's "Transfer learning & fine-tuning").

    Args:
        learning_rate: a float or a `LearningRateSchedule`.
        boundary: the first optimizer step of the second phase.
        factor: the multiplier from `boundary` on, in (0, 1].

    >>> schedule = PhasedLearningRate(0.01, boundary=10, factor=0.1)
    >>> [round(float(schedule(step)), 4) for step in (0, 9, 10)]
    [0.01, 0.01, 0.001]
    """

    def __init__(self, learning_rate, boundary, factor):
        if isinstance(learning_rate, dict):
            learning_rate = keras.saving.deserialize_keras_object(learning_rate)
        self.learning_rate = learning_rate
        self.boundary = int(boundary)
        self.factor = float(factor)

    def __call__(self, step):
        rate = self.learning_rate
        rate = rate(step) if callable(rate) else ops.convert_to_tensor(rate, "float32")
        scale = ops.where(ops.cast(step, "int64") >= self.boundary, self.factor, 1.0)
        return rate * ops.cast(scale, rate.dtype)

    def get_config(self):
        rate = self.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = keras.saving.serialize_keras_object(rate)
        return {"learning_rate": rate, "boundary": self.boundary, "factor": self.factor}


def make_optimizer(training, steps_per_epoch):
    """The optimizer with its learning-rate schedule, from the `training` section.

    Args:
        training: the config's `training` section (`epochs`, `optimizer`: name,
            learning_rate, weight_decay, clipnorm; `schedule`: name, warmup_epochs,
            alpha).
        steps_per_epoch: optimizer steps in one epoch (sets the schedule's length).

    Returns:
        A `keras.optimizers.Adam`, `AdamW`, `SGD` (momentum 0.9) or `RMSprop`, with a
        cosine decay (after a linear warm-up) or a constant learning rate, scaled by
        `fine_tuning.learning_rate_factor` after `fine_tuning.frozen_epochs` (when
        `training` has a `fine_tuning` section with frozen epochs).
    """
    opt = training["optimizer"]
    schedule = training["schedule"]
    peak = opt["learning_rate"]
    total = max(1, training["epochs"] * steps_per_epoch)
    if schedule["name"] == "cosine":
        warmup = min(schedule["warmup_epochs"] * steps_per_epoch, total - 1)
        if warmup > 0:
            learning_rate = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0, decay_steps=max(1, total - warmup),
                alpha=schedule["alpha"], warmup_target=peak, warmup_steps=warmup,
            )
        else:
            learning_rate = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=peak, decay_steps=total, alpha=schedule["alpha"]
            )
    else:
        learning_rate = peak
    fine_tuning = training.get("fine_tuning") or {}
    if fine_tuning.get("frozen_epochs"):
        learning_rate = PhasedLearningRate(
            learning_rate, fine_tuning["frozen_epochs"] * steps_per_epoch,
            fine_tuning["learning_rate_factor"])
    common = {"learning_rate": learning_rate}
    if opt["clipnorm"] is not None:
        common["clipnorm"] = opt["clipnorm"]
    name = opt["name"]
    if name == "adam":
        return keras.optimizers.Adam(weight_decay=opt["weight_decay"], **common)
    if name == "adamw":
        decay = 0.004 if opt["weight_decay"] is None else opt["weight_decay"]
        return keras.optimizers.AdamW(weight_decay=decay, **common)
    if name == "sgd":
        return keras.optimizers.SGD(momentum=0.9, weight_decay=opt["weight_decay"], **common)
    return keras.optimizers.RMSprop(weight_decay=opt["weight_decay"], **common)
