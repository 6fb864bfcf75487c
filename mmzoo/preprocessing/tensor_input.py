"""`TensorInput`: the preprocessing entry of an input that takes model tensors as they are.

Some models take precomputed features instead of raw values: MultiBench's AV-MNIST
feeds `(112, 112)` spectrograms to its audio tower, a notebook may feed embeddings.
Such an input has no raw form to decode; its `Preprocessor` entry records the
modality and passes the tensor through. An export with raw-input signatures refuses
it (there is nothing to serve raw); `serving_preprocessed` is the way to serve it.

>>> import numpy as np
>>> layer = TensorInput("audio", shape=(112, 112))
>>> layer.modality, tuple(layer(np.zeros((2, 112, 112), "float32")).shape)
('audio', (2, 112, 112))
"""

import keras

from mmzoo.modalities import MODALITIES


@keras.saving.register_keras_serializable(package="mmzoo")
class TensorInput(keras.layers.Layer):
    """Passes an input's model tensor through unchanged, recording its modality.

    Args:
        modality: `"image"`, `"text"` or `"audio"`.
        shape: the model tensor's shape without the batch axis.

    Input shape:
        `(batch, *shape)`.

    Output shape:
        The same tensor.

    Raises:
        ValueError: an unknown modality.
    """

    def __init__(self, modality, shape, **kwargs):
        super().__init__(**kwargs)
        if modality not in MODALITIES:
            raise ValueError(
                f"`modality` must be one of {', '.join(MODALITIES)}. "
                f"Received: modality={modality!r}"
            )
        self.modality = modality
        self.shape = tuple(int(d) for d in shape)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"modality": self.modality, "shape": list(self.shape)})
        return config
