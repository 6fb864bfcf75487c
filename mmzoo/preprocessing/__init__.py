"""Preprocessing: Keras layers and tf functions turning raw inputs into model tensors.

- `mmzoo.preprocessing.log_mel.LogMelSpectrogram`: waveform -> librosa-compatible
  log-mel spectrogram, computed in the model graph.
- `mmzoo.preprocessing.image`: encoded image bytes -> float32 images in [0, 1].

>>> from mmzoo.preprocessing import LogMelSpectrogram
>>> LogMelSpectrogram(sample_rate=8000).n_mels
64
"""

from mmzoo.preprocessing.log_mel import LogMelSpectrogram

__all__ = ["LogMelSpectrogram"]
