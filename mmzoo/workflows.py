"""`mmzoo.train`: a training run followed by its export, the two packages joined here.

`mmzoo.training` trains and tests; `mmzoo.export` exports; neither imports the other
(`tests/test_architecture.py` checks it). This module hands the run the export
function, so the run exports as its last step and keeps its backup until the export
is written.

>>> import mmzoo
>>> mmzoo.train is train
True
"""

from mmzoo.training.run import train as _train_run


def train(config=None, overrides=(), fresh=False, log=print):
    """Trains, tests and exports a model as `config` describes.

    Args:
        config, overrides, fresh, log: as for `mmzoo.training.run.train` (a YAML
            path or dict, dotted overrides, start afresh, the line printer).

    Returns:
        The run's result dict (see `mmzoo.training.run.train`); `export_dir` is the
        export folder when `output.export` is true.

    Raises:
        mmzoo.config.ConfigError: invalid config (before any data is read).

    >>> result = train({"training": {"epochs": 1}})  # doctest: +SKIP
    >>> result["export_dir"]  # doctest: +SKIP
    'saved_models/demo'
    """
    from mmzoo.export import export_model

    return _train_run(config, overrides=overrides, fresh=fresh, log=log, export=export_model)
