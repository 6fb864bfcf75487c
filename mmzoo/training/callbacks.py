"""Callbacks of an `mmzoo train` run: backup, best checkpoint, history, seeds, logs.

Every file they write is written atomically (`mmzoo.io`), so a run killed at any
moment (even with `SIGKILL`) leaves complete files that the next run can resume from.

- `AtomicBackupAndRestore`: Keras' `BackupAndRestore` whose backup is one weights
  file named after its epoch plus a metadata file pointing at it, each replaced
  atomically: the epoch and the weights (and optimizer state) always agree.
- `EpochSeeds`: at the start of every epoch, resets the state of every
  `keras.random.SeedGenerator` in the model (dropout, modality dropout) to a
  function of `(seed, epoch)`, so the random masks of an epoch do not depend on
  whether the run was interrupted before it.
- `BestCheckpoint`: the model with the best validation metric as a `.keras` file
  (with `best.json`: epoch and value); keeps the best weights in memory too, to
  restore them at the end without re-reading the file.
- `HistoryCSV`: the per-epoch logs as CSV, rewritten atomically after each epoch;
  a resumed run keeps the rows of the epochs before it.
- `ResumableEarlyStopping`: `EarlyStopping` whose patience a resumed run continues,
  from the monitored values in the history CSV, instead of starting it afresh.
- `FineTuningPhases`: pretrained towers frozen for the first epochs, then trained
  with their own `trainable` setting.

TensorBoard logs: `mmzoo.training.tensorboard`.

>>> import keras, numpy as np, tempfile
>>> from mmzoo.training.callbacks import HistoryCSV
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> model.compile("sgd", "mse")
>>> folder = tempfile.mkdtemp()
>>> _ = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=2, verbose=0,
...               callbacks=[HistoryCSV(f"{folder}/history.csv")])
>>> open(f"{folder}/history.csv").read().splitlines()[0]
'epoch,loss'
"""

import csv
import io
import json
import pathlib

import keras
import numpy as np

from mmzoo.data.pipeline import epoch_seed
from mmzoo.heads import metric_mode
from mmzoo.io import atomic_path, atomic_write_json, atomic_write_text


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` with atomic, self-consistent backups (see module docstring).

    Files in `backup_dir`: `epoch-<N>.weights.h5` (model and optimizer state after
    `N` epochs) and `training_metadata.json` (`{"epoch": N, "weights": ...}`), the
    latter written last, so it only ever names a complete weights file. Call
    `restored_epoch()` before `fit` to know where a resumed run starts (e.g. to build
    its input pipeline from that epoch).

    Args:
        backup_dir: the backup folder (str or path-like).
        delete_checkpoint: remove the backup when training ends normally.

    >>> import tempfile
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> backup = AtomicBackupAndRestore(tempfile.mkdtemp())
    >>> backup.set_model(model)
    >>> backup.restored_epoch()
    0
    >>> backup.on_epoch_end(0)  # what fit calls after the first epoch
    >>> backup.restored_epoch(), backup.metadata()["weights"]
    (1, 'epoch-00001.weights.h5')
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=delete_checkpoint)
        self.backup_dir = str(backup_dir)

    @property
    def metadata_path(self):
        """`pathlib.Path` of `training_metadata.json` in `backup_dir`."""
        return pathlib.Path(self.backup_dir) / "training_metadata.json"

    def metadata(self):
        """The backup's metadata dict, or None when there is no usable backup.

        Returns:
            `{"epoch": N, "batch": 0, "weights": "epoch-<N>.weights.h5"}`, or None if
            the file is missing, not JSON, or names a missing weights file.
        """
        try:
            metadata = json.loads(self.metadata_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        weights = pathlib.Path(self.backup_dir) / str(metadata.get("weights", ""))
        if not weights.is_file() or not isinstance(metadata.get("epoch"), int):
            return None
        return metadata

    def restored_epoch(self):
        """The epoch a run resumes at: the backup's epoch count, or 0.

        Returns:
            int, the number of epochs already done.
        """
        metadata = self.metadata()
        return metadata["epoch"] if metadata else 0

    def on_train_begin(self, logs=None):
        """Loads the backup's weights (and optimizer state) and epoch, if any."""
        metadata = self.metadata()
        if metadata is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(pathlib.Path(self.backup_dir) / metadata["weights"])
        self.model._initial_epoch = metadata["epoch"]  # what BackupAndRestore sets

    def on_epoch_end(self, epoch, logs=None):
        """Writes `epoch-<epoch + 1>.weights.h5`, then the metadata; drops older files."""
        self._current_epoch = epoch + 1
        folder = pathlib.Path(self.backup_dir)
        name = f"epoch-{epoch + 1:05d}.weights.h5"
        with atomic_path(folder / name) as tmp:
            self.model.save_weights(tmp)
        atomic_write_json(self.metadata_path, {"epoch": epoch + 1, "batch": 0, "weights": name})
        for old in folder.glob("epoch-*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def on_train_batch_end(self, batch, logs=None):
        """Does nothing: backups are made at epoch ends only."""
        pass  # backups at epoch ends only



class EpochSeeds(keras.callbacks.Callback):
    """Sets every `SeedGenerator` state of the model to `f(seed, epoch)` at epoch start.

    A resumed run then draws the same dropout masks in an epoch as an uninterrupted
    run, whatever happened before the epoch.

    Args:
        seed: the run's integer seed.

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=1)])
    >>> seeds = EpochSeeds(seed=0)
    >>> seeds.set_model(model)
    >>> seeds.on_epoch_begin(3)
    >>> first = [v.numpy().tolist() for v in model.variables]
    >>> seeds.on_epoch_begin(3)
    >>> [v.numpy().tolist() for v in model.variables] == first
    True
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        """Assigns `[epoch_seed(seed, epoch) % 2**31, 7919 * (i + 1)]` to state `i`."""
        states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        for index, state in enumerate(states):
            value = np.array([epoch_seed(self.seed, epoch) % 2**31, 7919 * (index + 1)],
                             dtype=state.dtype)
            state.assign(value)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model as `.keras` whenever `monitor` improves (atomically).

    Args:
        path: the `.keras` file; `best.json` beside it records epoch and value.
        monitor: a log key, e.g. `"val_accuracy"`.
        write: False on non-chief workers (they only track the best in memory).

    Raises:
        ValueError: (at an epoch end) `monitor` is not in the logs.

    >>> import pathlib, tempfile
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> best = BestCheckpoint(pathlib.Path(tempfile.mkdtemp()) / "best.keras",
    ...                       monitor="val_loss", write=False)
    >>> best.set_model(model)
    >>> for epoch, loss in enumerate([0.5, 0.3, 0.4]):
    ...     best.on_epoch_end(epoch, {"val_loss": loss})
    >>> best.best, best.best_epoch, best.restore()
    (0.3, 2, True)
    """

    def __init__(self, path, monitor="val_accuracy", write=True):
        super().__init__()
        self.path = pathlib.Path(path)
        self.info_path = self.path.with_name("best.json")
        self.monitor = monitor
        self.mode = metric_mode(monitor)
        self.write = write
        self.best = None
        self.best_epoch = None
        self.best_weights = None

    def _better(self, value):
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_train_begin(self, logs=None):
        """Reads `best.json` of an interrupted run, so its best is kept."""
        # A resumed run continues from the best of the epochs before the crash.
        if self.best is None and self.info_path.is_file():
            info = json.loads(self.info_path.read_text())
            if info.get("monitor") == self.monitor and self.path.is_file():
                self.best, self.best_epoch = info["value"], info["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        """Saves the model (and `best.json`) if `logs[monitor]` improved."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"The monitored metric is not in the logs; they hold "
                f"{sorted(logs or {})}. Received: training.monitor={self.monitor!r}"
            )
        value = float(value)
        if not self._better(value):
            return
        self.best, self.best_epoch = value, epoch + 1
        self.best_weights = self.model.get_weights()
        if self.write:
            with atomic_path(self.path) as tmp:
                self.model.save(tmp)
            atomic_write_json(
                self.info_path, {"epoch": epoch + 1, "monitor": self.monitor, "value": value}
            )

    def restore(self):
        """Loads the best weights into the model; returns False if there were none.

        Returns:
            bool: True if weights were restored, from memory or from `path`.
        """
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            return True
        if self.best is not None and self.path.is_file():
            self.model.load_weights(self.path)
            return True
        return False


class HistoryCSV(keras.callbacks.Callback):
    """Writes the per-epoch logs to a CSV file, atomically rewritten every epoch.

    A resumed run (`initial_epoch > 0`) keeps the rows of the earlier epochs.

    Args:
        path: the CSV file (str or path-like); columns `epoch` and the sorted log keys.
        initial_epoch: the epoch the run (re)starts at.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "history.csv"
    >>> history = HistoryCSV(path)
    >>> history.on_train_begin()
    >>> history.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.75})
    >>> path.read_text().splitlines()
    ['epoch,loss,val_loss', '0,0.5,0.75']
    """

    def __init__(self, path, initial_epoch=0):
        super().__init__()
        self.path = pathlib.Path(path)
        self.initial_epoch = initial_epoch
        self.rows = []

    def on_train_begin(self, logs=None):
        """Keeps the CSV rows of the epochs before `initial_epoch`."""
        start = self.initial_epoch
        self.rows = []
        if start and self.path.is_file():
            with open(self.path, newline="") as file:
                self.rows = [row for row in csv.DictReader(file) if int(row["epoch"]) < start]

    def on_epoch_end(self, epoch, logs=None):
        """Adds (or replaces) the row of `epoch` and rewrites the CSV."""
        row = {"epoch": epoch}
        row.update({key: scalar_value(value) for key, value in sorted((logs or {}).items())})
        self.rows = [r for r in self.rows if int(r["epoch"]) != epoch] + [row]
        keys = ["epoch"] + sorted({key for r in self.rows for key in r} - {"epoch"})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that continues, in a resumed run, where the interrupted run was.

    `BackupAndRestore` restores the weights and the epoch but no callback state, so a
    plain `EarlyStopping` would wait `patience` epochs afresh after every resume and
    train longer than an uninterrupted run. This one replays the monitored values of
    the epochs before `initial_epoch` from the run's history CSV (`HistoryCSV`).
    `restore_best_weights` is not supported (`BestCheckpoint` keeps the best model).

    Args:
        history_path: the run's history CSV.
        initial_epoch: the epoch the run (re)starts at.
        **kwargs: `keras.callbacks.EarlyStopping` arguments.

    Raises:
        ValueError: `restore_best_weights=True` is passed.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "history.csv"
    >>> _ = path.write_text("epoch,val_loss\\n0,0.5\\n1,0.6\\n2,0.7\\n")
    >>> stop = ResumableEarlyStopping(path, initial_epoch=3, monitor="val_loss", patience=2)
    >>> stop.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    >>> stop.on_train_begin()
    >>> stop.wait, stop.model.stop_training
    (2, True)
    """

    def __init__(self, history_path, initial_epoch=0, **kwargs):
        if kwargs.get("restore_best_weights"):
            raise ValueError("`restore_best_weights` is not supported by ResumableEarlyStopping. "
                             "Received: restore_best_weights=True")
        super().__init__(**kwargs)
        self.history_path = pathlib.Path(history_path)
        self.initial_epoch = initial_epoch

    def on_train_begin(self, logs=None):
        """Resets the state, then replays the history CSV's epochs before `initial_epoch`."""
        super().on_train_begin(logs)
        if not self.initial_epoch or not self.history_path.is_file():
            return
        with open(self.history_path, newline="") as file:
            rows = [row for row in csv.DictReader(file)
                    if int(row["epoch"]) < self.initial_epoch and row.get(self.monitor)]
        for row in rows:
            self.on_epoch_end(int(row["epoch"]), {self.monitor: float(row[self.monitor])})


def scalar_value(value):
    """`value` as a Python float when it is a number (a tensor, numpy scalar), else as is.

    >>> import numpy as np
    >>> scalar_value(np.float32(0.5)), scalar_value("n/a")
    (0.5, 'n/a')
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class FineTuningPhases(keras.callbacks.Callback):
    """Two-phase fine-tuning: pretrained towers frozen first, then their own setting.

    For the first `frozen_epochs` epochs the backbones of the pretrained towers are
    frozen (only the new layers, fusion and head train, so their random start does
    not disturb the pretrained weights); from then on each backbone gets its
    `trainable` setting (`True` or `{"last_n": K}`). The train function is rebuilt at
    the switch. Resuming mid-run puts the right phase back from the epoch number.

    The optimizer must already hold slots for every weight of the second phase
    (`prepare(model)` builds it so); lower its learning rate in the second phase
    with `mmzoo.training.optimizers.PhasedLearningRate`.

    Args:
        frozen_epochs: epochs of the first phase.
        settings: dict from input name to the `trainable` setting of its pretrained
            tower in the second phase; default (None): each tower's setting when
            `prepare` is called, i.e. as the model was built.

    Example (the optimizer's rate drops tenfold with the switch, after 2 epochs of
    `steps` batches):

    ```python
    model.compile(keras.optimizers.Adam(PhasedLearningRate(1e-3, 2 * steps, 0.1)))
    phases = FineTuningPhases(frozen_epochs=2)
    phases.prepare(model)
    model.fit(data, epochs=6, callbacks=[phases])
    ```

    Source: keras.io, "Transfer learning & fine-tuning" (Chollet, 2020).
    """

    def __init__(self, frozen_epochs, settings=None):
        super().__init__()
        self.frozen_epochs = int(frozen_epochs)
        self.settings = None if settings is None else dict(settings)
        self._frozen = None

    def apply(self, model, frozen):
        """Sets every pretrained backbone of `model` frozen or to its setting."""
        from mmzoo.towers.pretrained import backbone_of, set_trainable

        for name, setting in self.settings.items():
            set_trainable(backbone_of(model, name), False if frozen else setting)

    def prepare(self, model):
        """Builds `model`'s optimizer over the weights of both phases, then freezes.

        Call it after `compile` and before `fit`.
        """
        from mmzoo.towers.pretrained import pretrained_backbones, trainable_setting

        if self.settings is None:
            self.settings = {name: trainable_setting(backbone)
                             for name, backbone in pretrained_backbones(model).items()}
        self.apply(model, frozen=False)
        model.optimizer.build(model.trainable_variables)
        self.apply(model, frozen=True)
        self._frozen = True

    def on_epoch_begin(self, epoch, logs=None):
        frozen = epoch < self.frozen_epochs
        if frozen != self._frozen:
            self.apply(self.model, frozen)
            self._frozen = frozen
            self.model.make_train_function(force=True)
