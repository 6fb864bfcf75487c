"""`mmzoo.training.train(config)`: one training run, from a config to a tested model.

The run directory `runs/<name>/` holds everything about the run, each file written
atomically:

- `config.yaml`: the resolved config (every default filled in);
- `preprocessor.json`: the model's `mmzoo.Preprocessor` (tokenizer vocabularies
  adapted on the train split, image sizes, audio rates and lengths; `mmzoo.artifacts`);
- `checkpoints/best.keras` (+ `best.json`): the model at its best validation metric;
  `checkpoints/last.weights.h5`: the weights after the last epoch;
- `backup/`: the `BackupAndRestore` state. Re-running the same command after a crash
  resumes from the last completed epoch (the backup is removed once the run has
  written its test metrics and export, so a later re-run starts afresh);
- `history.csv`: per-epoch losses and metrics; `logs/`: TensorBoard scalars;
- `metrics.json`: test metrics, with all modalities and with each modality alone.

Given an `export` function (`mmzoo.train` passes `mmzoo.export.export_model`; this
package does not import `mmzoo.export`), the run's last step exports the model to
`saved_models/<name>/`: a SavedModel taking raw inputs, `model.keras`,
`preprocessor.json`, `config.yaml`, `metrics.json` and `model_card.json`. The backup
is kept until that export is written, so a run killed while exporting resumes.

>>> import mmzoo
>>> result = mmzoo.train({"dataset": {"options": {"num_train": 200}},
...                       "training": {"epochs": 1}})  # doctest: +SKIP
>>> result["test"]["accuracy"]  # doctest: +SKIP
0.3
"""

import contextlib
import pathlib
import shutil
import sys
import time

from mmzoo import artifacts
from mmzoo.training import report
from mmzoo.training.optimizers import make_optimizer
from mmzoo.config import (
    ConfigError,
    check_model_builds,
    dataset_info,
    load_config,
    pretrained_settings,
    resolve_model,
    run_name_of,
    to_yaml,
)
from mmzoo.io import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    remove_stale_temporaries,
)

# Sections whose change makes a backup unusable for resuming.
_RESUME_SECTIONS = ("dataset", "model", "text", "training")


def train(config=None, overrides=(), fresh=False, log=print, export=None):
    """Trains and tests a model as `config` describes; exports it given `export`.

    Args:
        config: a YAML file path, a config dict or None (all defaults: the default
            preset on the embedded dataset); see `mmzoo.config`.
        overrides: dotted overrides such as `["training.epochs=3"]` or a dict.
        fresh: ignore (delete) a backup left by an interrupted run of the same name
            instead of resuming from it.
        log: function printing one line (None: silent).
        export: `fn(model, path, metadata=, metrics=, extra_files=)`
            run when `output.export` is true (`mmzoo.export.export_model`); None:
            no export.

    Returns:
        A dict: `name`, `run_dir`, `export_dir`, `test` (test metrics), `per_modality`
        (test metrics with one modality), `best_epoch`, `best_value`, `monitor`,
        `initial_epoch` (>0 for a resumed run), `epochs`, `settings`, `seconds`.

    Raises:
        ConfigError: invalid config (before any data is read or model built).
    """
    config = load_config(config, overrides)
    return _Run(config, fresh=fresh, log=log or (lambda *args, **kwargs: None),
                export=export).run()


class _Run:
    def __init__(self, config, fresh=False, log=print, export=None):
        self.config = config
        self.exporter = export
        self.fresh = fresh
        self._log = log
        self.name = run_name_of(config)
        output = config["output"]
        self.run_dir = pathlib.Path(output["runs_dir"]) / self.name
        self.export_dir = pathlib.Path(output["saved_models_dir"]) / self.name
        self.timings = {}

    # Helpers ---------------------------------------------------------------------

    def log(self, message=""):
        if self.is_chief:
            self._log(message)
            with contextlib.suppress(Exception):
                sys.stdout.flush()

    @contextlib.contextmanager
    def timed(self, key):
        start = time.perf_counter()
        yield
        self.timings[key] = round(time.perf_counter() - start, 2)

    def compat(self):
        """Keras work-arounds needed under MultiWorkerMirroredStrategy (else nothing)."""
        if self.kind != "multi_worker":
            return contextlib.nullcontext()
        from mmzoo.training import keras_compat

        return keras_compat.multi_worker_reductions()

    # Steps -----------------------------------------------------------------------

    def run(self):
        start = time.perf_counter()
        config = self.config
        from mmzoo.training import strategy as strategies

        if config["distribution"]["cpu_devices"]:
            strategies.configure_cpu_devices(config["distribution"]["cpu_devices"])
        # The strategy comes first: MultiWorkerMirroredStrategy must be created
        # before TensorFlow runs any op.
        self.strategy, self.kind = strategies.select_strategy(
            config["distribution"]["strategy"], config["distribution"]["tpu"]
        )
        self.worker, self.num_workers, self.is_chief = strategies.worker_info(
            self.strategy, self.kind
        )
        self.speed = strategies.resolve_speed(config["speed"], self.kind)

        import keras
        import tensorflow as tf

        training = config["training"]
        keras.utils.set_random_seed(training["seed"])
        if training["deterministic"]:
            tf.config.experimental.enable_op_determinism()

        self.info = dataset_info(config)
        self.model_kwargs = resolve_model(config, self.info)
        self.out_dir = self.run_dir if self.is_chief else self.run_dir / f".worker-{self.worker}"
        self.replicas = self.strategy.num_replicas_in_sync
        self.print_settings()
        from mmzoo.presets import pretrained_note

        preset = config["model"]["preset"]
        note = preset and pretrained_note(preset, self.model_kwargs["inputs"])
        if note:
            self.log(note)

        previous_policy = keras.config.dtype_policy()
        try:
            self.prepare_run_dir()
            with self.timed("data"):
                self.prepare_data()
            keras.config.set_dtype_policy(self.speed["mixed_precision"])
            with self.timed("build"):
                self.build()
            with self.timed("train"), self.compat():
                self.fit()
            with self.timed("evaluate"), self.compat():
                self.evaluate()
            with self.timed("export"):
                self.export()
        finally:
            keras.config.set_dtype_policy(previous_policy)
        self.timings["total"] = round(time.perf_counter() - start, 2)
        self.write_metrics()
        # The run is complete: a re-run starts afresh rather than resuming.
        shutil.rmtree(self.out_dir / "backup", ignore_errors=True)
        if not self.is_chief:  # a non-chief worker's files were only for symmetry
            shutil.rmtree(self.out_dir, ignore_errors=True)
        self.print_summary()
        return self.result

    def print_settings(self):
        for line in report.settings_lines(self):
            self.log(line)

    def prepare_run_dir(self):
        from mmzoo.training.callbacks import AtomicBackupAndRestore

        out = self.out_dir
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
        remove_stale_temporaries(out / "checkpoints")
        # Kept until the run's test metrics and export are written (see `run`).
        self.backup = AtomicBackupAndRestore(out / "backup", delete_checkpoint=False)
        if self.fresh:
            shutil.rmtree(out / "backup", ignore_errors=True)
        self.initial_epoch = self.backup.restored_epoch()
        saved = self.run_dir / "config.yaml"
        if self.initial_epoch and saved.is_file():
            import yaml

            before = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
            now = yaml.safe_load(to_yaml(self.config))
            changed = [key for key in _RESUME_SECTIONS if before.get(key) != now.get(key)]
            if changed:
                raise ConfigError(
                    changed[0],
                    f"Run {self.name!r} has a backup at epoch {self.initial_epoch} made with "
                    f"another config (its {', '.join(changed)} section(s) differ from "
                    f"{saved}). Resume with the same config, pass --fresh to start over, "
                    f"or choose another run name. Received: name={self.name!r}",
                )
        if self.initial_epoch:
            self.log(f"  resuming from the backup of epoch {self.initial_epoch} in {out / 'backup'}")
        else:
            # A fresh start: nothing of an earlier run with this name may leak in.
            for stale in ("checkpoints", "logs"):
                shutil.rmtree(out / stale, ignore_errors=True)
            for stale in ("history.csv", "metrics.json"):
                (out / stale).unlink(missing_ok=True)
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", to_yaml(self.config))

    def prepare_data(self):
        from mmzoo.training import inputs as pipeline
        from mmzoo.zoo import default_preprocessor

        config = self.config
        data = config["dataset"]
        self.log(f"Loading dataset {data['name']!r} ...")
        self.splits = pipeline.load_splits(data["name"], data["options"], data["data_dir"],
                                           data["seed"], limits=data["limits"])
        specs = self.model_kwargs["inputs"]
        self.preprocessor = default_preprocessor(
            specs, config["text"]["tokenizer"], config["text"]["max_tokens"]
        )
        self.preprocessor.adapt(self.splits["train"])
        tokenizers = self.preprocessor.tokenizers
        for name, tokenizer in tokenizers.items():
            vocab_size = specs[name].get("vocab_size")
            if vocab_size is not None and tokenizer.vocabulary_size > vocab_size:
                raise ConfigError(
                    f"model.inputs.{name}.vocab_size",
                    f"The {name!r} tokenizer learned {tokenizer.vocabulary_size} tokens but the "
                    f"tower's vocab_size is {vocab_size}: raise model.inputs.{name}.vocab_size "
                    f"or set text.max_tokens. Received: vocab_size={vocab_size}",
                )
        counts = {split: pipeline.count_examples(ds) for split, ds in self.splits.items()}
        self.counts = counts
        vocab = ", ".join(f"{n}: {t.vocabulary_size} tokens "
                          + ("(the preset's)" if t.kind == "preset" else "(train split only)")
                          for n, t in tokenizers.items())
        self.log(
            f"  examples: train {counts['train']}, validation {counts['validation']}, "
            f"test {counts['test']}" + (f"; vocabulary {vocab}" if vocab else "")
        )

        training = config["training"]
        batch = training["batch_size"]
        self.class_weight = self.weigh_classes()
        if self.kind == "default":
            self.train_data, self.steps = pipeline.train_dataset(
                self.splits["train"], self.preprocessor, batch,
                training["seed"], training["epochs"], self.initial_epoch,
                training["shuffle_buffer"], class_weight=self.class_weight,
            )
        else:
            self.train_data, self.steps = pipeline.distributed_train_dataset(
                self.strategy, self.splits["train"], self.preprocessor, batch,
                training["seed"], training["epochs"], self.initial_epoch,
                training["shuffle_buffer"], num_workers=self.num_workers,
                class_weight=self.class_weight,
            )
        eval_batch = batch * self.replicas
        self.val_data = pipeline.eval_dataset(self.splits["validation"], self.preprocessor,
                                              eval_batch)
        # A fixed sample of the train split for the BatchNorm statistics and the
        # inference check (not under multi-worker: each worker would have its own).
        from mmzoo.batch_norm import CALIBRATION_EXAMPLES

        self.calibration = None
        if self.kind != "multi_worker":
            self.calibration = pipeline.calibration_dataset(
                self.splits["train"], self.preprocessor, eval_batch, training["seed"],
                CALIBRATION_EXAMPLES,
            )
        artifacts.save_preprocessor(self.out_dir, self.preprocessor)

    def weigh_classes(self):
        """The class weights of `training.class_weight` (None: unweighted), logged."""
        from mmzoo.training import inputs as pipeline

        setting = self.config["training"]["class_weight"]
        if setting is None:
            return None
        names = list(self.info.class_names)
        counts = None
        if setting == "balanced":
            counts = pipeline.label_counts(self.splits["train"], len(names))
        weights = pipeline.class_weights(setting, names, counts)
        shown = ", ".join(
            f"{name} {weight:.3g}" + (f" ({counts[i]} examples)" if counts is not None else "")
            for i, (name, weight) in enumerate(zip(names[:20], weights)))
        self.log(f"  class weights ({setting if setting == 'balanced' else 'given'}): {shown}")
        return weights

    def build(self):
        import mmzoo

        training = self.config["training"]
        with self.strategy.scope():
            try:
                self.model = mmzoo.build_model(**self.model_kwargs, name=_model_name(self.name))
            except ValueError as error:
                check_model_builds(self.model_kwargs)  # raises naming the config key
                raise ConfigError("model", f"Invalid model config: {error}") from None
            self.model.preprocessor = self.preprocessor  # adapted: checkpoints carry it
            optimizer = make_optimizer(training, self.steps)
            loss = "auto"
            if training["loss"] == "focal":
                loss = self.model.head.focal_loss(training["focal_gamma"])
            self.model.compile(
                optimizer=optimizer,
                loss=loss,
                steps_per_execution=self.speed["steps_per_execution"],
                jit_compile=self.speed["jit_compile"],
            )
            self.fine_tuning = None
            frozen_epochs = training["fine_tuning"]["frozen_epochs"]
            if frozen_epochs:
                from mmzoo.training.callbacks import FineTuningPhases

                self.fine_tuning = FineTuningPhases(
                    frozen_epochs, pretrained_settings(self.model_kwargs["inputs"]))
                self.fine_tuning.prepare(self.model)
        if self.kind == "multi_worker":
            from mmzoo.training import keras_compat

            keras_compat.patch_model(self.model, self.strategy)
        monitor = training["monitor"]
        if monitor == "auto":
            monitor = self.model.head.default_monitor
        self.monitor = monitor
        self.log(f"  model {self.model.name!r}: {self.model.count_params():,} parameters; "
                 f"{self.steps} steps per epoch; best checkpoint by {monitor}")

    def callbacks(self):
        from mmzoo.batch_norm import BatchNormCalibration, InferenceModeCheck, check_batch
        from mmzoo.training.callbacks import (
            BestCheckpoint,
            EpochSeeds,
            HistoryCSV,
            ResumableEarlyStopping,
        )
        from mmzoo.training.tensorboard import tensorboard_callback

        out = self.out_dir
        training = self.config["training"]
        self.best = BestCheckpoint(out / "checkpoints" / "best.keras", self.monitor)
        history = out / "history.csv"
        callbacks = [
            *([self.fine_tuning] if self.fine_tuning else []),
            EpochSeeds(training["seed"]),
            self.best,
            HistoryCSV(history, initial_epoch=self.initial_epoch),
        ]
        self.check = None
        if self.calibration is not None:
            # Calibration first: its end-of-training pass precedes the check's.
            if training["batch_norm_calibration"]:
                callbacks.append(BatchNormCalibration(self.calibration))
            batch = check_batch(self.calibration)
            if batch is not None:
                self.check = InferenceModeCheck(batch, self.model.head.kind, log=self.log)
                callbacks.append(self.check)
        if self.config["output"]["tensorboard"]:
            callbacks.append(tensorboard_callback(out / "logs"))
        if training["early_stopping_patience"]:
            callbacks.append(
                ResumableEarlyStopping(
                    history, initial_epoch=self.initial_epoch, monitor=self.monitor,
                    patience=training["early_stopping_patience"], mode=self.best.mode,
                )
            )
        # Last: an epoch is committed to the backup only once every other file of
        # that epoch (history row, best checkpoint) is written. (The others need no
        # restored weights at train begin; the initial epoch is passed explicitly.)
        callbacks.append(self.backup)
        return callbacks

    def fit(self):
        training = self.config["training"]
        verbose = self.config["output"]["verbose"]
        if verbose == "auto":
            verbose = 1 if sys.stdout.isatty() else 2
        if not self.is_chief:
            verbose = 0
        remaining = training["epochs"] - self.initial_epoch
        callbacks = self.callbacks()
        if remaining > 0:
            self.log(f"Training {remaining} epoch(s) of {self.steps} steps "
                     f"(epochs {self.initial_epoch + 1}-{training['epochs']}) ...")
            self.model.fit(
                self.train_data,
                epochs=training["epochs"],
                steps_per_epoch=self.steps,
                validation_data=self.val_data,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,  # the pipeline shuffles, seeded per epoch
                calibrate_batch_norm=False,  # the run's own callbacks do it
            )
            self.model._initial_epoch = None  # set by BackupAndRestore; not for later fits
        else:
            # Killed after the last epoch, during testing or export: no epoch left.
            self.log("All epochs were done before the interruption; testing and exporting.")
            for callback in (self.backup, self.best):
                callback.set_model(self.model)
                callback.on_train_begin()
            self.model._initial_epoch = None
        with atomic_path(self.out_dir / "checkpoints" / "last.weights.h5") as tmp:
            self.model.save_weights(tmp)
        self.restored_best = False
        if training["restore_best"]:
            self.restored_best = self.best.restore()

    def evaluate(self):
        from mmzoo.training.evaluate import evaluate_examples

        self.log(
            "Testing the "
            + ("best checkpoint" if self.restored_best else "final weights")
            + f" on {self.counts['test']} test examples ..."
        )
        verbose = self.config["output"]["verbose"]
        progress = 1 if self.is_chief and verbose != 0 and sys.stdout.isatty() else 0
        self.test_metrics = evaluate_examples(
            self.model, self.splits["test"], self.config["training"]["batch_size"] * self.replicas,
            per_modality=self.config["evaluation"]["per_modality"], verbose=progress,
        )

    def export(self):
        if not self.config["output"]["export"] or self.exporter is None:
            return
        target = self.export_dir if self.is_chief else self.out_dir / "export"
        test_metrics = {"test": self.test_metrics["all"]}
        data = self.config["dataset"]
        self.exporter(
            self.model, target,
            metadata={"dataset": {key: data[key] for key in ("name", "options", "seed")},
                      "run": str(self.run_dir)},
            metrics=test_metrics,
            extra_files={
                artifacts.CONFIG_FILE: to_yaml(self.config),
                artifacts.METRICS_FILE: test_metrics,
            },
        )
        self.log(
            f"Exported the model to {target}/ (SavedModel taking raw inputs, model.keras, "
            f"{artifacts.PREPROCESSOR_FILE}, model_card.json)"
        )

    @property
    def result(self):
        return report.result(self)

    def write_metrics(self):
        if self.is_chief:
            atomic_write_json(self.run_dir / "metrics.json", self.result)

    def print_summary(self):
        for line in report.summary_lines(self.result, self.info.name, self.counts["test"],
                                         self.model.head.main_metric, self.run_dir):
            self.log(line)


def _model_name(name):
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return cleaned or "mmzoo_model"
