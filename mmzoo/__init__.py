"""mmzoo: a Keras 3 model zoo for multimodal learning on TensorFlow.

>>> import mmzoo
>>> model = mmzoo.create_model("avmnist_late_fusion")
>>> model.modalities
['image', 'audio']
"""

__version__ = "0.1.0"

from mmzoo import (  # noqa: E402
    artifacts, batch_norm, data, datasets, fusion, layers, preprocessing, towers,
)
from mmzoo.fusion import list_fusions  # noqa: E402
from mmzoo.export import verify  # noqa: E402  (binds mmzoo.export too, a callable module)
from mmzoo.evaluation import report  # noqa: E402
from mmzoo.heads import TaskHead  # noqa: E402
from mmzoo.interpret import modality_weights  # noqa: E402
from mmzoo.model import MODALITY_MASK, MultimodalModel  # noqa: E402
from mmzoo.preprocessing.preprocessor import Preprocessor  # noqa: E402
from mmzoo.towers import list_towers  # noqa: E402
from mmzoo.workflows import train  # noqa: E402
from mmzoo.zoo import build_model, create_model, get_preset, list_models  # noqa: E402

__all__ = [
    "MODALITY_MASK",
    "MultimodalModel",
    "Preprocessor",
    "TaskHead",
    "artifacts",
    "batch_norm",
    "build_model",
    "create_model",
    "data",
    "datasets",
    "export",
    "fusion",
    "layers",
    "get_preset",
    "list_fusions",
    "list_models",
    "list_towers",
    "modality_weights",
    "preprocessing",
    "report",
    "towers",
    "train",
    "verify",
]
