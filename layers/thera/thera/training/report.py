"""The evaluation report of a training run: ROC and PR curves, train vs validation, as PNGs and one HTML page."""

from __future__ import annotations

import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in Lambda or CI
import matplotlib.pyplot as plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def render(evaluation: dict[str, Any], curves: dict[str, dict[str, list[float]]]) -> dict[str, bytes]:
    """Files of the report by name: roc.png, pr.png, train_vs_validation.png, index.html."""
    roc, ax = plt.subplots(figsize=(5, 4.5))
    for name, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (validation)")
    ax.legend(fontsize=8)
    pr, ax = plt.subplots(figsize=(5, 4.5))
    for name, c in curves.items():
        ax.step(c["recall"], c["precision"], where="post", label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (validation)", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    gap, ax = plt.subplots(figsize=(6, 4))
    names = list(evaluation["models"])
    width = 0.38
    for k, split in enumerate(("train", "validation")):
        values = [evaluation["models"][n][split]["pr_auc"] for n in names]
        ax.bar([i + (k - 0.5) * width for i in range(len(names))], values, width, label=split)
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set(ylabel="PR-AUC", title="Train vs validation", ylim=(0, 1.05))
    ax.legend()
    files = {"roc.png": _png(roc), "pr.png": _png(pr), "train_vs_validation.png": _png(gap)}
    rows = "".join(
        "<tr><td>{}</td>{}</tr>".format(
            html.escape(name),
            "".join(f"<td>{m[split][k]}</td>" for split in ("train", "validation") for k in ("roc_auc", "pr_auc"))
            + f"<td>{m['gap']}</td>",
        )
        for name, m in evaluation["models"].items()
    )
    decision = html.escape(str(evaluation.get("decision", "")))
    files["index.html"] = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Training run {html.escape(evaluation["run_id"])}</title>
<style>body{{font:15px system-ui,sans-serif;margin:2rem}}
td,th{{padding:.25rem .6rem;border-bottom:1px solid #ddd}}</style>
</head><body><h1>Training run {html.escape(evaluation["run_id"])}</h1>
<p>{evaluation["counts"]}</p><p>{decision}</p>
<table><tr><th>model</th><th>train ROC-AUC</th><th>train PR-AUC</th><th>validation ROC-AUC</th>
<th>validation PR-AUC</th><th>PR-AUC gap</th></tr>{rows}</table>
<p><img src="roc.png" alt="ROC curves"> <img src="pr.png" alt="PR curves"></p>
<p><img src="train_vs_validation.png" alt="train vs validation"></p></body></html>""".encode()
    return files
