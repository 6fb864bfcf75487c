"""The report's `index.html`: one self-contained page, readable offline and printable.

The figures are embedded as base64 `data:` URIs, the style is inline, there is no
script and no external address, so the page can be mailed or archived on its own.
Every text from the report is escaped with `html.escape`.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> page = write_page(folder, {"model": {"name": "demo"}, "metrics": {"accuracy": 0.9},
...                            "skipped": {"robustness": "no noise levels"}})
>>> text = page.read_text()
>>> "0.9000" in text, "no noise levels" in text, "http" in text
(True, True, False)
"""

import base64
import html
import math
import pathlib

from mmzoo.io import atomic_write_text

#: The report's sections in page order: (key in the report, heading).
SECTIONS = (("metrics", "Metrics"), ("modalities", "Modality contribution"),
            ("robustness", "Robustness"), ("cost", "Cost"))

CSS = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#1f2328;background:#fff;line-height:1.5;margin:0 auto;max-width:62rem;
padding:1rem 1.25rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0 .25rem}h2{font-size:1.3rem;border-bottom:1px solid #d0d7de;
padding-bottom:.25rem;margin-top:2.5rem}h3{font-size:1.05rem;margin-top:1.75rem}
.muted{color:#59636e}
.note{background:#fff8c5;border:1px solid #eed888;border-radius:6px;padding:.5rem .75rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:1rem 0}
dl.facts dt{color:#59636e}dl.facts dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.6rem;
margin:1rem 0}.card{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .75rem}
.card b{display:block;font-size:1.35rem;font-variant-numeric:tabular-nums}
.card span{color:#59636e;font-size:.85rem}
nav{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem}
nav ol{margin:.25rem 0;padding-left:1.25rem}a{color:#0969da}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.75rem 0;font-size:.92rem}
th,td{border-bottom:1px solid #d0d7de;padding:.3rem .7rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.25rem 0;break-inside:avoid}figcaption{color:#59636e;font-size:.9rem}
img{max-width:100%;height:auto;border:1px solid #eaeef2}
@media print{body{max-width:none;padding:0}nav{display:none}h2{break-after:avoid}
table,figure{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""


def png_data_uri(path):
    """The PNG file at `path` as a `data:image/png;base64,...` URI (str)."""
    data = base64.b64encode(pathlib.Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _e(value):
    return html.escape(str(value))


def _number(value):
    """4 decimals for usual metric values, thousands separators for large ones."""
    if value is None or isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _e(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.4g}"
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:,.4f}"


def _table(header, rows, numeric=()):
    """`header`: column names; `rows`: lists of values; `numeric`: column indices."""
    def cell(i, v):
        if i in numeric:
            return f'<td class="n">{_number(v)}</td>'
        return f"<td>{'n/a' if v is None else _e(v)}</td>"

    head = "".join(f'<th{" class=n" if i in numeric else ""}>{_e(h)}</th>'
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _skipped(value):
    """The reason of a `"skipped: <reason>"` string, else None."""
    if isinstance(value, str) and value.startswith("skipped"):
        return value.partition(":")[2].strip() or "no reason given"
    return None


def _note(reason):
    return f'<p class="note">Skipped: {_e(reason)}</p>'


class _Figures:
    """Embeds the report's PNG figures (`{key: "file.png"}` relative to `folder`)."""

    def __init__(self, folder, names):
        self.folder, self.names = pathlib.Path(folder), dict(names or {})

    def __call__(self, key, caption):
        if key not in self.names:
            return ""
        path = self.folder / self.names[key]
        if not path.is_file():
            return f'<p class="note">Figure file missing: {_e(self.names[key])}</p>'
        return (f'<figure><img src="{png_data_uri(path)}" alt="{_e(caption)}">'
                f"<figcaption>{_e(caption)}</figcaption></figure>")


def _header(report):
    model, data = report.get("model") or {}, report.get("data") or {}
    names = list(model.get("class_names") or [])
    classes = ", ".join(map(str, names[:20]))
    classes += f" … ({len(names)} in all)" if len(names) > 20 else ""
    facts = [("Model", model.get("path")), ("Task", model.get("task")),
             ("Classes", classes or None),
             ("Modalities", ", ".join(model.get("modalities") or []) or None),
             ("Main metric", model.get("main_metric")), ("Dataset", data.get("dataset")),
             ("Split", data.get("split")), ("Examples", data.get("examples")),
             ("Created", report.get("created"))]
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_number(v) if isinstance(v, int) else _e(v)}</dd>"
                   for k, v in facts if v is not None)
    title = f"Evaluation report: {model.get('name') or 'model'}"
    return title, f"<header><h1>{_e(title)}</h1><dl class=\"facts\">{rows}</dl></header>"


def _short(value):
    return "n/a" if value is None else f"{value:.3f}"


def _summary(report):
    """The headline numbers as cards: the main metric and the numbers people ask
    first (macro F1, ROC-AUC, calibration, each modality alone, attribution, noise,
    latency). Only the numbers the report holds."""
    cards = []
    values = report.get("metrics") if isinstance(report.get("metrics"), dict) else {}
    main = (report.get("model") or {}).get("main_metric")
    for key in dict.fromkeys([main, "f1_macro", "roc_auc_ovr_macro", "roc_auc",
                              "expected_calibration_error", "r2"]):
        if key and values.get(key) is not None:
            cards.append((_short(values[key]), key.replace("_", " ")))
    section = report.get("modalities") if isinstance(report.get("modalities"), dict) else {}
    alone = [row for row in section.get("subsets") or [] if len(row["present"]) == 1]
    if len(alone) > 1:
        cards.append((" · ".join(_short(r["value"]) for r in alone),
                      f"{section.get('metric', '')} alone: "
                      + ", ".join(r["present"][0] for r in alone)))
    share = (section.get("attribution") or {}).get("share") if isinstance(
        section.get("attribution"), dict) else None
    if share:
        cards.append((" · ".join(f"{100 * v:.0f}%" for v in share.values()),
                      "attribution: " + ", ".join(share)))
    curves = {k: v for k, v in (report.get("robustness") or {}).items() if isinstance(v, dict)}
    if curves:
        cards.append((" · ".join(_short(c["values"][-1]) for c in curves.values()),
                      "at the highest noise: " + ", ".join(curves)))
    cost = report.get("cost") if isinstance(report.get("cost"), dict) else {}
    latency = cost.get("latency_ms") or {}
    if latency.get("p50") is not None:
        cards.append((f"{latency['p50']:.1f} ms", f"latency p50, batch {latency.get('batch_size')}"))
    if not cards:
        return ""
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{_e(value)}</b><span>{_e(label)}'
        f"</span></div>" for value, label in cards) + "</div>"


def _metrics(report, value, figure):
    parts = [_table(["metric", "value"], [[k.replace("_", " "), v] for k, v in value.items()], {1})]
    per_class = report.get("per_class")
    if _skipped(per_class):
        parts.append(_note(_skipped(per_class)))
    elif per_class:
        keys = ["support", "precision", "recall", "f1", "roc_auc", "pr_auc"]
        keys = [k for k in keys if any(k in row for row in per_class)]
        parts.append("<h3>Per class</h3>" + _table(
            ["class"] + [k.replace("_", " ") for k in keys],
            [[row.get("class")] + [row.get(k) for k in keys] for row in per_class],
            set(range(1, len(keys) + 1))))
    for key, caption in (("confusion_matrix", "Confusion matrix (counts)"),
                         ("confusion_matrix_normalized", "Confusion matrix, row-normalised"),
                         ("per_class_f1", "F1 per class"), ("roc", "ROC curves, one-vs-rest"),
                         ("pr", "Precision-recall curves, one-vs-rest"),
                         ("reliability", "Reliability diagram (Guo et al. 2017)"),
                         ("learning_curves", "Learning curves (history.csv)")):
        parts.append(figure(key, caption))
    return parts


def _modalities(report, value, figure):
    metric = value.get("metric", "metric")
    parts = []
    if value.get("subsets"):
        parts += ["<h3>Modalities present</h3><p class=\"muted\">The other modalities masked.</p>",
                  _table(["modalities present", metric],
                         [[" + ".join(s.get("present") or []) or "none", s.get("value")]
                          for s in value["subsets"]], {1}),
                  figure("metric_by_subset", f"{metric} by modalities present")]
    for key, heading, render in (("fusion_weights", "Fusion weights", _fusion),
                                 ("attribution", "Attribution", _attribution)):
        if key in value:
            item = value[key]
            parts.append(f"<h3>{heading}</h3>")
            if _skipped(item):
                parts.append(_note(_skipped(item)))
            elif item is None:
                parts.append('<p class="muted">Not available for this model.</p>')
            else:
                parts += render(item) + [figure(key, heading)]
    return parts


def _fusion(item):
    modalities = list(item.get("modalities") or [])
    means = item.get("per_class_mean") or {}
    return ['<p class="muted">Mean weight the fusion gives each modality, per true class.</p>',
            _table(["class"] + modalities, [[c] + list(m) for c, m in means.items()],
                   set(range(1, len(modalities) + 1)))]


def _attribution(item):
    details = ", ".join(f"{k}: {item[k]}" for k in ("method", "examples", "steps") if k in item)
    share = item.get("share") or {}
    return [f'<p class="muted">{_e(details)}</p>',
            _table(["modality", "share"], [[m, f"{100 * s:.1f}%"] for m, s in share.items()])]


def _robustness(report, value, figure):
    rows, figures = [], []
    for modality, curve in value.items():
        if _skipped(curve) or not isinstance(curve, dict):
            rows.append([modality, f"skipped: {_skipped(curve) or 'no curve'}"] + [None] * 6)
            continue
        levels, values = curve.get("levels") or [None], curve.get("values") or [None]
        rows.append([modality, curve.get("noise"), curve.get("metric"), values[0], values[-1],
                     levels[-1], curve.get("relative_robustness"),
                     curve.get("effective_robustness")])
        figures.append(figure(f"robustness_{modality}", f"Robustness to noise on {modality}"))
    header = ["modality", "noise", "metric", "clean", "at highest level", "highest level",
              "relative robustness", "effective robustness"]
    return [_table(header, rows, {3, 4, 5, 6, 7})] + figures


def _cost(report, value, figure):
    parts = []
    parameters = value.get("parameters")
    if parameters:
        rows = [[p.get("part"), p.get("trainable"), p.get("frozen"),
                 (p.get("trainable") or 0) + (p.get("frozen") or 0)] for p in parameters]
        if rows[-1][0] != "total":
            rows.append(["total"] + [sum(r[i] or 0 for r in rows) for i in (1, 2, 3)])
        parts.append("<h3>Parameters</h3>"
                     + _table(["part", "trainable", "frozen", "total"], rows, {1, 2, 3}))
    facts = []
    latency, throughput = value.get("latency_ms"), value.get("throughput")
    if "flops_per_example" in value:
        facts.append(["FLOPs per example", value["flops_per_example"]])
    if isinstance(latency, dict):
        facts += [[f"Latency {q} (ms, batch {latency.get('batch_size', '?')})", latency[q]]
                  for q in ("p50", "p95") if q in latency]
    if isinstance(throughput, dict) and "examples_per_second" in throughput:
        facts.append([f"Throughput (examples/s, batch {throughput.get('batch_size', '?')})",
                      throughput["examples_per_second"]])
    if "peak_memory_mb" in value:
        facts.append(["Peak memory (MB)", value["peak_memory_mb"]])
    known = {"parameters", "flops_per_example", "latency_ms", "throughput", "peak_memory_mb",
             "measured", "flops_note"}
    facts += [[k.replace("_", " "), v] for k, v in value.items()
              if k not in known and (v is None or isinstance(v, (int, float, str)))]
    if facts:
        parts.append("<h3>Speed and memory</h3>" + _table(["measure", "value"], facts, {1}))
    for key, title in (("measured", "Measured"), ("flops_note", "FLOPs")):
        if value.get(key):
            parts.append(f'<p class="muted">{title}: {_e(value[key])}</p>')
    return parts


def write_page(folder, report):
    """Writes `folder/index.html` (atomically) from a report dict.

    Args:
        folder: the report folder; the figures' PNG files are read from it.
        report: the report (`report.json`'s content): `"model"`, `"data"`,
            `"created"`, `"figures"` (`{key: "file.png"}`), `"skipped"`
            (`{section: reason}`) and the sections `"metrics"` (with `"per_class"`),
            `"modalities"`, `"robustness"`, `"cost"`, each optional; a section
            holding `"skipped: <reason>"` shows the reason.

    Returns:
        pathlib.Path: the page.

    Raises:
        ValueError: `report` is not a dict.
    """
    if not isinstance(report, dict):
        raise ValueError(f"`report` must be a dict. Received: {type(report).__name__}")
    folder = pathlib.Path(folder)
    figure = _Figures(folder, report.get("figures"))
    skipped = dict(report.get("skipped") or {})
    title, header = _header(report)
    renderers = {"metrics": _metrics, "modalities": _modalities, "robustness": _robustness,
                 "cost": _cost}
    toc, sections = [], []
    for key, heading in SECTIONS:
        if key not in report and key not in skipped:
            continue
        value = report.get(key)
        reason = skipped.pop(key, None) or _skipped(value)
        if reason:
            parts = [_note(reason)]
        elif isinstance(value, dict):
            parts = renderers[key](report, value, figure)
        else:
            parts = ['<p class="muted">Not available.</p>']
        toc.append(f'<li><a href="#{key}">{_e(heading)}</a></li>')
        sections.append(f'<section id="{key}"><h2>{_e(heading)}</h2>{"".join(parts)}</section>')
    if skipped:
        toc.append('<li><a href="#skipped">Not included</a></li>')
        sections.append('<section id="skipped"><h2>Not included</h2>'
                        + _table(["part", "reason"], sorted(skipped.items())) + "</section>")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{header}{_summary(report)}"
            f'<nav><strong>Contents</strong><ol>{"".join(toc)}</ol></nav>{"".join(sections)}'
            f'<footer class="muted"><p>The numbers are also in report.json beside this page.</p>'
            f"</footer></body></html>\n")
    path = folder / "index.html"
    atomic_write_text(path, page)
    return path
