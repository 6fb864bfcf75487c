"""The evaluation report of a trained model: metrics, figures, modality contribution,
robustness to noise and cost (`mmzoo report`, `mmzoo.report`)."""
