"""What a training run prints: its settings before training, its results after.

Reporting apart from the run's logic (`mmzoo.training.run`): each function returns
the lines; the run logs them (on the chief worker only).

>>> lines = summary_lines(
...     {"test": {"accuracy": 0.9, "loss": 0.3}, "per_modality": {"image": {"accuracy": 0.7}},
...      "baselines": {"image": 0.6}, "seconds": {"total": 12}},
...     dataset="embedded", test_examples=100, metric="accuracy", run_dir="runs/demo")
>>> for line in lines[1:4]:
...     print(line)
Test metrics (embedded, 100 examples): accuracy 0.9000, loss 0.3000
Test accuracy by modalities present (the others masked out):
  all 1          0.900
"""


def settings_lines(run):
    """The lines describing a run before it trains: strategy, speed, model, training.

    Args:
        run: the run (`mmzoo.training.run._Run`) once its strategy, speed settings,
            dataset info and model arguments are resolved.

    Returns:
        A list of strings.
    """
    lines = []
    config, speed = run.config, run.speed
    batch = config["training"]["batch_size"]
    devices = _devices(run.strategy, run.kind)
    lines.append(f"mmzoo train: run {run.name!r} -> {run.run_dir}/ (export: {run.export_dir}/)")
    lines.append(
        f"  strategy: {run.kind} ({run.replicas} replica(s) on {devices}; "
        f"{run.num_workers} worker(s)); global batch {batch * run.replicas} = "
        f"{batch} per replica x {run.replicas}"
    )
    reasons = speed["reasons"]
    lines.append(
        f"  speed: mixed precision {speed['mixed_precision']}"
        f"{_why(reasons, 'mixed_precision')}, XLA "
        f"{ {True: 'on', False: 'off'}.get(speed['jit_compile'], speed['jit_compile']) }"
        f"{_why(reasons, 'jit_compile')}, steps_per_execution "
        f"{speed['steps_per_execution']}{_why(reasons, 'steps_per_execution')}"
    )
    training = config["training"]
    model = config["model"]["preset"] or "custom model"
    lines.append(
        f"  model: {model} ({run.model_kwargs['fusion']} fusion over "
        f"{', '.join(run.model_kwargs['inputs'])}); dataset: {run.info.name} "
        f"{config['dataset']['options'] or ''}".rstrip()
    )
    lines.extend(input_lines(run.model_kwargs, run.info))
    lines.append(
        f"  training: {training['epochs']} epoch(s), {training['optimizer']['name']} "
        f"lr {training['optimizer']['learning_rate']:g} ({training['schedule']['name']}), "
        f"seed {training['seed']}, deterministic {training['deterministic']}"
    )
    return lines


def input_lines(kwargs, info):
    """One line per model input (its kind, tower and size) and one for the task.

    Args:
        kwargs: `mmzoo.config.resolve_model`'s result.
        info: the dataset's `DatasetInfo`.

    Returns:
        A list of strings, e.g. `"  input 'caption': text, tower cnn, 12 tokens"`.

    >>> from mmzoo.datasets import DatasetInfo
    >>> kwargs = {"inputs": {"photo": {"modality": "image", "tower": "conv",
    ...                                "input_shape": (28, 28, 1)}},
    ...           "head": "binary", "num_outputs": 1}
    >>> for line in input_lines(kwargs, DatasetInfo("manifest", "", {}, ("no", "yes"),
    ...                                             task="binary")):
    ...     print(line)
      input 'photo': image, tower conv, 28x28x1
      task: binary (head binary, 1 output(s)); classes: no, yes
    """
    from mmzoo.modalities import modality_of

    lines = []
    for name, spec in kwargs["inputs"].items():
        modality = modality_of(name, spec)
        shape = tuple(spec.get("input_shape") or ())
        if modality == "image":
            size = "x".join(str(s) for s in shape)
        elif modality == "audio" and len(shape) == 1:
            rate = spec.get("sample_rate")
            size = (f"{shape[0]} samples" + (f" = {shape[0] / rate:g} s at {rate} Hz"
                                             if rate else ""))
        elif modality == "text" and shape:
            size = f"{shape[0]} tokens"
        else:
            size = str(shape)
        tower = spec["tower"]
        if "preset" in spec:  # a keras-hub tower: which preset, and what trains
            trainable = spec.get("trainable", True)
            state = {True: "trainable", False: "frozen"}.get(trainable) if isinstance(
                trainable, bool) else f"last {trainable['last_n']} layers trainable"
            tower = f"{tower} ({spec['preset']}, {state})"
        lines.append(f"  input {name!r}: {modality}, tower {tower}, {size}")
    classes = list(info.class_names)
    shown = ", ".join(classes[:10]) + (f" ... ({len(classes)})" if len(classes) > 10 else "")
    lines.append(f"  task: {info.task} (head {kwargs['head']}, {kwargs['num_outputs']} "
                 f"output(s))" + (f"; classes: {shown}" if classes else ""))
    return lines


def result(run):
    """The result dict of a finished run (returned by `train`, saved as `metrics.json`).

    Args:
        run: the run (`mmzoo.training.run._Run`) after its test step.

    Returns:
        A JSON-ready dict: `name`, `run_dir`, `export_dir`, `test`, `per_modality`,
        `baselines`, `monitor`, `best_epoch`, `best_value`, `initial_epoch`, `epochs`,
        `examples`, `inference_check`, `settings`, `seconds`, `chief` (whether this
        worker is the chief: the one that writes the run's files).
    """
    metrics = run.test_metrics
    return {
        "name": run.name,
        "run_dir": str(run.run_dir),
        "export_dir": (str(run.export_dir)
                       if run.config["output"]["export"] and run.exporter else None),
        "test": metrics["all"],
        "per_modality": {
            key[len("only_"):]: value for key, value in metrics.items() if key != "all"
        },
        "baselines": run.config["evaluation"]["baselines"],
        "monitor": run.monitor,
        "best_epoch": run.best.best_epoch,
        "best_value": run.best.best,
        "initial_epoch": run.initial_epoch,
        "epochs": run.config["training"]["epochs"],
        "examples": run.counts,
        "inference_check": run.check.result if run.check else None,
        "settings": {
            "strategy": run.kind,
            "replicas": run.replicas,
            "workers": run.num_workers,
            "global_batch_size": run.config["training"]["batch_size"] * run.replicas,
            "mixed_precision": run.speed["mixed_precision"],
            "jit_compile": run.speed["jit_compile"],
            "steps_per_execution": run.speed["steps_per_execution"],
            "deterministic": run.config["training"]["deterministic"],
        },
        "seconds": run.timings,
        "chief": run.is_chief,
    }


def summary_lines(result, dataset, test_examples, metric, run_dir):
    """The lines summing a finished run up: test metrics, each modality alone, time.

    Args:
        result: the run's result dict (`test`, `per_modality`, `baselines`,
            `seconds`).
        dataset: the dataset's name.
        test_examples: number of test examples.
        metric: the head's main metric (`TaskHead.main_metric`).
        run_dir: the run folder.

    Returns:
        A list of strings (the first one empty).
    """
    test = result["test"]
    lines = [""]
    lines.append(f"Test metrics ({dataset}, {test_examples} examples): "
                 + ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
    per = result["per_modality"]
    baselines = result["baselines"]
    if per:
        lines.append(f"Test {metric} by modalities present (the others masked out):")
        lines.append(f"  {'all ' + str(len(per)):<14} {test.get(metric, float('nan')):.3f}")
        for name, values in per.items():
            line = f"  {name + ' only':<14} {values.get(metric, float('nan')):.3f}"
            if name in baselines:
                line += f"   (recorded single-modality baseline: {baselines[name]:.3f})"
            lines.append(line)
        if baselines and metric in test:
            best_name = max(baselines, key=baselines.get)
            margin = test[metric] - baselines[best_name]
            verdict = "beats" if margin > 0 else "does NOT beat"
            lines.append(
                f"The fused model {verdict} the best single-modality baseline "
                f"({best_name} {baselines[best_name]:.3f}) by {margin:+.3f}."
            )
    seconds = result["seconds"]
    steps = [("data", "data"), ("build", "model"), ("train", "training"), ("evaluate", "test"),
             ("export", "export")]
    parts = ", ".join(f"{name} {seconds[key]:.0f} s" for key, name in steps
                      if seconds.get(key, 0) >= 0.5)
    lines.append(f"Time: {seconds.get('total', 0):.0f} s ({parts}); run files in {run_dir}/")
    return lines


def _devices(strategy, kind):
    import tensorflow as tf

    if kind == "default":
        gpus = tf.config.list_logical_devices("GPU")
        return gpus[0].name if gpus else "CPU:0"
    try:
        names = strategy.extended.worker_devices
    except (RuntimeError, AttributeError):
        return kind
    return ", ".join(name.split("device:")[-1] for name in names)


def _why(reasons, key):
    return f" ({reasons[key]})" if key in reasons else ""

