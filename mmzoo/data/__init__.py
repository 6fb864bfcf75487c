"""tf.data input pipelines: from numpy arrays, from manifests of files, from TFDS.

>>> import numpy as np, mmzoo
>>> ds = mmzoo.data.from_numpy({"text": np.zeros((8, 4), "int32")}, np.zeros(8), batch_size=4)
>>> len(list(ds))
2
"""

from mmzoo.data.manifest import BadRow, Manifest, ManifestError, read_manifest
from mmzoo.data.pipeline import finish_pipeline
from mmzoo.data.sources import from_manifest, from_numpy, from_tfds

__all__ = [
    "BadRow",
    "Manifest",
    "ManifestError",
    "finish_pipeline",
    "from_manifest",
    "from_numpy",
    "from_tfds",
    "read_manifest",
]
