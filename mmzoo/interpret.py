"""Look inside a trained model: which modalities it relied on, per example.

>>> import numpy as np, mmzoo
>>> model = mmzoo.create_model("trimodal_attention")
>>> batch = {"image": np.zeros((1, 32, 32, 3), "float32"),
...          "text": np.ones((1, 32), "int32"),
...          "audio": np.zeros((1, 8000), "float32")}
>>> mmzoo.modality_weights(model, batch).shape
(1, 3)
"""

import inspect

import keras
from keras import ops


def modality_weights(model, inputs):
    """Per-example fusion weights over `model.modalities`, as a numpy array.

    The attention fusion's attention weights, the gated fusion's gates averaged over
    the output features: fusions whose `call` takes `return_weights`.

    Args:
        model: a `MultimodalModel` whose fusion layer is `"attention"` or `"gated"`.
        inputs: a batch dict, as for `model.predict` (with an optional `modality_mask`).

    Returns:
        `(batch, num_modalities)` weights; each row sums to 1 over the present modalities.

    Raises:
        ValueError: the model's fusion layer has no modality weights.

    See the module's example.
    """
    fusion = model.get_layer("fusion")
    if not has_modality_weights(model):
        raise ValueError(
            "Modality weights exist only for models whose fusion weighs the modalities "
            f"('attention', 'gated'). Received: a model whose fusion is "
            f"{type(fusion).__name__}"
        )
    call = fusion._inbound_nodes[0].arguments
    embeddings, mask = call.args[0], call.kwargs.get("mask")
    probe = keras.Model(model.input, {"embeddings": embeddings, "mask": mask})
    tensors = probe(model._checked_inputs(inputs), training=False)
    _, weights = fusion(tensors["embeddings"], mask=tensors["mask"], return_weights=True)
    return ops.convert_to_numpy(weights)


def has_modality_weights(model):
    """Whether `model`'s fusion layer reports modality weights (`modality_weights`).

    >>> import mmzoo
    >>> has_modality_weights(mmzoo.create_model("trimodal_gated"))
    True
    """
    call = type(model.get_layer("fusion")).call
    return "return_weights" in inspect.signature(call).parameters
