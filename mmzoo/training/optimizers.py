"""The optimizer and learning-rate schedule of a run, from its config's `training` section.

>>> from mmzoo.training.optimizers import make_optimizer
>>> training = {"epochs": 2, "optimizer": {"name": "adamw", "learning_rate": 1e-3,
...             "weight_decay": None, "clipnorm": None},
...             "schedule": {"name": "cosine", "warmup_epochs": 1, "alpha": 0.0}}
>>> optimizer = make_optimizer(training, steps_per_epoch=10)
>>> type(optimizer).__name__, round(float(optimizer.weight_decay), 3)
('AdamW', 0.004)
"""


def make_optimizer(training, steps_per_epoch):
    """The optimizer with its learning-rate schedule, from the `training` section.

    Args:
        training: the config's `training` section (`epochs`, `optimizer`: name,
            learning_rate, weight_decay, clipnorm; `schedule`: name, warmup_epochs,
            alpha).
        steps_per_epoch: optimizer steps in one epoch (sets the schedule's length).

    Returns:
        A `keras.optimizers.Adam`, `AdamW`, `SGD` (momentum 0.9) or `RMSprop`, with a
        cosine decay (after a linear warm-up) or a constant learning rate.
    """
    import keras

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
