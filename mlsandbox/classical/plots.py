"""Evaluation plots: ROC curves per fold with their mean and band, confusion matrix."""

from __future__ import annotations

import numpy as np

from mlsandbox.report import new_figure

#: False-positive rates on which the fold curves are averaged.
FPR_GRID = np.linspace(0, 1, 201)


def mean_roc(curves):
    """``(mean tpr, std tpr)`` on :data:`FPR_GRID` of ``[(fpr, tpr), ...]`` (each fold's
    curve interpolated as a step-free polyline, (0, 0) pinned; the usual vertical
    averaging)."""
    tprs = []
    for fpr, tpr in curves:
        t = np.interp(FPR_GRID, fpr, tpr)
        t[0] = 0.0
        tprs.append(t)
    tprs = np.array(tprs)
    mean = tprs.mean(0)
    mean[-1] = 1.0
    return mean, tprs.std(0)


def roc_folds(curves, aucs, title: str):
    """One thin line per fold, the mean curve, ±1 std band; AUCs in the legend."""
    fig, ax = new_figure(figsize=(5.5, 5))
    for i, ((fpr, tpr), a) in enumerate(zip(curves, aucs)):
        ax.plot(fpr, tpr, lw=1, alpha=0.5, label=f"fold {i} (AUC {a:.4f})")
    mean, std = mean_roc(curves)
    ax.plot(FPR_GRID, mean, color="k", lw=2,
            label=f"mean (AUC {np.mean(aucs):.4f} ± {np.std(aucs):.4f})")
    ax.fill_between(FPR_GRID, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1),
                    color="grey", alpha=0.25, label="± 1 std")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title,
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return fig


def confusion(cm, labels, title: str):
    """Counts in each cell, true classes as rows."""
    cm = np.asarray(cm)
    fig, ax = new_figure(figsize=(4.2, 3.8))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return fig
