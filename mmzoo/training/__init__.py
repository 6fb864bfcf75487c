"""Training: config -> distributed `model.fit` with a run directory -> tested model.

- `mmzoo.training.run.train`: one run from a config (`mmzoo.train` adds the export);
- `mmzoo.training.strategy`: strategy selection and speed settings;
- `mmzoo.training.inputs`: epoch-seeded train and evaluation pipelines;
- `mmzoo.training.callbacks`: atomic backup, best checkpoint, history, seeds;
- `mmzoo.training.evaluate`: evaluate a run or saved model, predict from files.

>>> from mmzoo.training import train
>>> callable(train)
True
"""


def train(config=None, overrides=(), fresh=False, log=print, export=None):
    """Trains and tests a model (exports it given `export`); see `mmzoo.training.run.train`."""
    from mmzoo.training.run import train as _train

    return _train(config, overrides=overrides, fresh=fresh, log=log, export=export)


def evaluate(path, **kwargs):
    """Evaluates a saved model or run; see `mmzoo.training.evaluate.evaluate`."""
    from mmzoo.training.evaluate import evaluate as _evaluate

    return _evaluate(path, **kwargs)


__all__ = ["evaluate", "train"]
