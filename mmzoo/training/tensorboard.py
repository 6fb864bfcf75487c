"""TensorBoard logs of a run: Keras' callback, or the same scalars without tensorboard.

- `tensorboard_callback(log_dir)`: `keras.callbacks.TensorBoard` (per-epoch scalars)
  when the `tensorboard` package is installed, else `ScalarLogs`;
- `ScalarLogs`: per-epoch scalars written with `tf.summary`, readable by TensorBoard.
"""

import os

import keras

from mmzoo.training.callbacks import scalar_value


class ScalarLogs(keras.callbacks.Callback):
    """Per-epoch TensorBoard scalars (`logs/train`, `logs/validation`), no tensorboard
    package needed: the events are written with `tf.summary.write` and the scalars
    plugin's metadata, as `keras.callbacks.TensorBoard` would with `update_freq="epoch"`.

    Args:
        log_dir: the TensorBoard folder (str or path-like).

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> logs = ScalarLogs(folder)
    >>> logs.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.7})
    >>> logs.on_train_end()
    >>> sorted(os.listdir(folder))
    ['train', 'validation']
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = str(log_dir)
        self._writers = {}

    def _writer(self, name):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_epoch_end(self, epoch, logs=None):
        """Writes each log value as scalar `epoch_<name>` at step `epoch`."""
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        ).SerializeToString()
        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(split).as_default():
                tf.summary.write(f"epoch_{name}", tf.constant(scalar_value(value), tf.float32),
                                 step=epoch, metadata=metadata)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        """Closes the event files."""
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def tensorboard_callback(log_dir):
    """`keras.callbacks.TensorBoard` if the tensorboard package is installed, else
    `ScalarLogs` (the same per-epoch scalars).

    Args:
        log_dir: the TensorBoard folder (str or path-like).

    Returns:
        A `keras.callbacks.Callback`.

    >>> import tempfile
    >>> type(tensorboard_callback(tempfile.mkdtemp())).__name__ in ("TensorBoard", "ScalarLogs")
    True
    """
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return ScalarLogs(log_dir)
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch", profile_batch=0)
