"""The evaluation report of a trained model: metrics, figures, modality contribution,
robustness to noise and cost (`mmzoo report`, `mmzoo.report`).

    predictions.py   labels and outputs of a split (`Predictions`, `collect`)
    metrics.py       scikit-learn metrics, calibration
    contribution.py  modality subsets, fusion weights, integrated gradients
    robustness.py    metric against noise per modality (MultiBench)
    cost.py          parameters, FLOPs, latency, throughput, memory
    figures.py       matplotlib figures
    page.py          the self-contained HTML page
    report.py        all of it into one folder (`report`)
"""

from mmzoo.evaluation.report import REPORT_FILE, SECTIONS, report

__all__ = ["REPORT_FILE", "SECTIONS", "report"]
