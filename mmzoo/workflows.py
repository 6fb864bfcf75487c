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
    """Trains, tests and exports a model as `config` describes, then reports on it.

    With `evaluation.report: true` the evaluation report of the test split
    (`mmzoo.report`) is written to `<export or run folder>/report/` last.

    Args:
        config, overrides, fresh, log: as for `mmzoo.training.run.train` (a YAML
            path or dict, dotted overrides, start afresh, the line printer).

    Returns:
        The run's result dict (see `mmzoo.training.run.train`); `export_dir` is the
        export folder when `output.export` is true; `report` the report folder, when
        one was written.

    Raises:
        mmzoo.config.ConfigError: invalid config (before any data is read).

    >>> result = train({"training": {"epochs": 1}})  # doctest: +SKIP
    >>> result["export_dir"]  # doctest: +SKIP
    'saved_models/demo'
    """
    from mmzoo import artifacts
    from mmzoo.export import export_model

    result = _train_run(config, overrides=overrides, fresh=fresh, log=log, export=export_model)
    saved = artifacts.read_config(result["run_dir"]) or {}
    if saved.get("evaluation", {}).get("report") and result.get("chief", True):
        from mmzoo.evaluation import report

        quiet = saved.get("output", {}).get("verbose") == 0
        written = report(result["export_dir"] or result["run_dir"], log=None if quiet else log)
        result["report"] = written["path"]
    return result
