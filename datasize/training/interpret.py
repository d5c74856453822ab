"""Interpretation for curators: the confusion matrix, the most-confused pairs, the top-loss images.

The top losses are the validation images the model got most confidently wrong: the first to
re-check for a wrong label.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from datasize.report.plots import plain_text
from datasize.training.cache import ImageCache


def confusion_matrix(predictions: pd.DataFrame, classes: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Counts with actual labels as rows and predicted labels as columns, in class order."""
    table = pd.crosstab(predictions["label"], predictions["predicted"])
    table = table.reindex(index=list(classes), columns=list(classes), fill_value=0).astype("int64")
    table.index.name, table.columns.name = "actual", "predicted"
    return table


def most_confused(predictions: pd.DataFrame, *, min_count: int = 1) -> pd.DataFrame:
    """(actual, predicted, count) for every wrong pair seen at least `min_count` times, most first."""
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    pairs = wrong.groupby(["label", "predicted"], sort=True).size().rename("count").reset_index()
    pairs = pairs.rename(columns={"label": "actual"})
    pairs = pairs[pairs["count"] >= min_count]
    return pairs.sort_values(
        ["count", "actual", "predicted"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)


def top_losses(predictions: pd.DataFrame, *, k: int = 16) -> pd.DataFrame:
    """The k validation images with the highest loss (ties by path), with predicted/actual/probability."""
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    ordered = predictions.sort_values(["loss", "path"], ascending=[False, True], kind="stable")
    return ordered.head(k).reset_index(drop=True)


@plain_text
def plot_top_losses(
    losses: pd.DataFrame, cache: ImageCache, path: str | os.PathLike, *, columns: int = 4
) -> None:
    """A PNG grid: each image titled predicted / actual / loss / probability of the prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from datasize.report.plots import save_figure

    n = len(losses)
    rows = max(1, int(np.ceil(n / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.6 * rows), squeeze=False)
    index = cache.index_of(losses["path"])
    for ax, (_, row), i in zip(axes.flat, losses.iterrows(), index, strict=False):
        image = cache.images[i]
        ax.imshow(
            image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=255
        )
        ax.set_title(
            f"{row['predicted']} / {row['label']}\nloss {row['loss']:.2f}, p {row['probability']:.2f}",
            fontsize=8,
        )
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle("predicted / actual / loss / probability", fontsize=9)
    save_figure(fig, path)
