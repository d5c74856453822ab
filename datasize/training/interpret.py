"""Interpretation for curators: the confusion matrix, the most-confused pairs, the top-loss images.

The top losses are the validation images the model got most confidently wrong: the first to
re-check for a wrong label.
"""

from __future__ import annotations

import pandas as pd


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
