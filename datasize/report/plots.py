"""Plots with matplotlib, headless: readable in print and for colour-blind readers."""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import TYPE_CHECKING, Any

from datasize.io import write_bytes_atomic
from datasize.noise import at_zero, upper_bound
from datasize.training.lr_curve import format_lr

if TYPE_CHECKING:
    import pandas as pd

    from datasize.training.cache import ImageCache
    from datasize.training.lr_finder import LRFinderResult

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in grayscale print.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 110) -> None:
    """Save a figure as PNG atomically and close it."""

    write_bytes_atomic(path, figure_png(fig, dpi=dpi))


def plain_text(function: Any) -> Any:
    """Draw with matplotlib's maths parsing off: a class named "$x$" or "a$b" is text, not TeX."""
    import functools

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return function(*args, **kwargs)

    return wrapper


def plain_log_ticks(axis: Any) -> None:
    """Number labels on a log axis without matplotlib's maths text (off under `plain_text`, where
    the default "10^{2}" labels would show as raw "$\\mathdefault{10^{2}}$")."""
    from matplotlib.ticker import LogFormatter

    # matplotlib's defaults, in the plain-number base class instead of the maths-text subclass:
    # decades labelled, and minor ticks too when the axis spans few decades.
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def figure_png(fig: Any, *, dpi: int = 110) -> bytes:
    """A figure as PNG bytes (closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Long class names can defeat tight_layout; bbox_inches="tight" still fits everything.
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@plain_text
def learning_curve_png(summary: dict[str, Any]) -> bytes:
    """Error against training images (log x): every seed's points, the mean, the fitted curve, the
    interval at 2x and 4x, the extrapolation and the target line."""
    import numpy as np

    from datasize.forecasting.families import CurveFamily, predict

    plt = _pyplot()
    runs = [r for r in summary["runs"] if r.get("status") == "ok" and r.get("error_rate") is not None]
    forecast = summary.get("forecast") or {}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    n = np.array([r["n_train"] for r in runs], dtype=float)
    err = np.array([r["error_rate"] for r in runs], dtype=float)
    ax.scatter(n, err, s=18, color=PALETTE[5], alpha=0.8, label="each seed", zorder=3)
    sizes = np.unique(n)
    means = np.array([err[n == s].mean() for s in sizes])
    ax.plot(sizes, means, "o", color=PALETTE[0], markersize=7, label="mean over seeds", zorder=4)
    horizons = forecast.get("forecast") or []
    fit = forecast.get("fit")
    n_valid = int(forecast.get("n_valid") or max((r.get("n_valid") or 0 for r in runs), default=0))
    if n_valid and len(sizes) and at_zero(float(means[-1]), n_valid):
        # at zero there is nothing to fit or extrapolate: show what the validation set can vouch for
        bound = upper_bound(math.ceil(float(means[-1]) * n_valid - 1e-9), n_valid)
        ax.axhline(
            bound, color=PALETTE[0], linestyle="--", linewidth=1.2, label=f"95% upper bound ({bound:.1%})"
        )
        fit = None
    if fit and len(sizes):
        top = max([sizes.max(), *[h["n_train"] for h in horizons]])
        grid = np.geomspace(sizes.min(), top, 200)
        family = CurveFamily(fit["family"])
        curve = predict(family, list(fit["params"].values()), grid)
        inside = grid <= sizes.max()
        ax.plot(grid[inside], curve[inside], color=PALETTE[0], linewidth=1.5, label=f"fit ({family})")
        ax.plot(
            grid[~inside],
            curve[~inside],
            color=PALETTE[0],
            linewidth=1.5,
            linestyle="--",
            label="extrapolation",
        )
        if horizons:
            xs = [sizes.max(), *[h["n_train"] for h in horizons]]
            lows = [means[-1], *[h["low"] for h in horizons]]
            highs = [means[-1], *[h["high"] for h in horizons]]
            ax.fill_between(xs, lows, highs, color=PALETTE[0], alpha=0.15, label="80% interval")
            if any(h.get("basis") == "midway" for h in horizons):
                ax.plot(
                    xs[1:],
                    [h["expected"] for h in horizons],
                    "D",
                    color=PALETTE[3],
                    markersize=6,
                    label="forecast: midway to the last point (the fit failed its self-check)",
                    zorder=4,
                )
    target = summary.get("config", {}).get("target_error")
    if target:
        ax.axhline(target, color=PALETTE[3], linestyle=":", linewidth=1.5, label=f"target {target:.1%}")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel("validation error rate")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.1%}"))
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Learning curve", fontsize=10)
    return figure_png(fig)


@plain_text
def comparison_png(summary: dict[str, Any], points: dict[str, list[dict[str, Any]]]) -> bytes:
    """Several models' learning curves on one plot: each model's mean error per size (log x), and its
    forecast at 2x with the 80% interval; `summary` is `ComparisonOutcome.summary()`, `points` each
    model's forecast points (n_train, error_rate) by model name."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    rows = {m["model"]: m for m in (summary.get("comparison") or {}).get("models", [])}
    for k, (model, measured) in enumerate(points.items()):
        colour = PALETTE[k % len(PALETTE)]
        xs = [p["n_train"] for p in measured]
        ys = [100 * p["error_rate"] for p in measured]
        ax.plot(xs, ys, "o-", color=colour, label=model)
        row = rows.get(model)
        if row and row.get("expected_2x") is not None:
            low, high = 100 * row["low_2x"], 100 * row["high_2x"]
            mid = 100 * row["expected_2x"]
            # Every model's 2x lies at the same size: each marker a little to the side, so that the
            # intervals do not hide one another.
            at = row["n_train_2x"] * 1.04 ** (k - (len(points) - 1) / 2)
            ax.plot([xs[-1], at], [ys[-1], mid], ":", color=colour)
            ax.errorbar([at], [mid], yerr=[[mid - low], [high - mid]], fmt="s", color=colour, capsize=4)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("training images")
    ax.set_ylabel("validation error (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("Models compared on one split (squares: forecast at 2x, 80% interval)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return figure_png(fig)


@plain_text
def epoch_curves_png(records: list[dict[str, Any]]) -> bytes:
    """Train and validation loss per epoch for one run of each size, overfitting onset marked."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    chosen: dict[int, dict[str, Any]] = {}
    for record in records:
        if record.get("status") == "ok" and record["n_train"] not in chosen:
            chosen[record["n_train"]] = record
    count = max(1, len(chosen))
    columns = min(3, count)
    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.6 * rows), squeeze=False)
    for ax, (n, record) in zip(axes.flat, sorted(chosen.items()), strict=False):
        epochs = [e["epoch"] for e in record["epochs"]]
        ax.plot(
            epochs,
            [e["train_loss"] for e in record["epochs"]],
            "-o",
            markersize=3,
            color=PALETTE[1],
            label="train loss",
        )
        ax.plot(
            epochs,
            [e["valid_loss"] for e in record["epochs"]],
            "-s",
            markersize=3,
            color=PALETTE[0],
            label="valid loss",
        )
        onset = record.get("overfit_onset_epoch")
        if onset:
            ax.axvline(
                onset, color=PALETTE[3], linestyle="--", linewidth=1, label=f"overfitting from {onset}"
            )
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.set_title(f"{n} images, seed {record['seed']}: {record.get('diagnosis')}", fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5"
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(chosen) :]:
        ax.set_axis_off()
    return figure_png(fig)


def _short(label: Any, limit: int = 24) -> str:
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@plain_text
def confusion_png(matrix: Any) -> bytes:
    """The confusion matrix as a grey heat map with counts (actual rows, predicted columns)."""
    return heatmap_png(matrix, rows="actual", columns="predicted")


@plain_text
def noise_matrix_png(counts: Any) -> bytes:
    """A labels check's estimated joint of given and true labels, as images: the off-diagonal cells
    are the estimated wrong labels (given label rows, true label columns)."""
    return heatmap_png(counts, rows="given label", columns="true label (estimated)")


def heatmap_png(matrix: Any, *, rows: str, columns: str) -> bytes:
    """A square table of counts as a grey heat map with its counts written in the cells."""
    import numpy as np

    plt = _pyplot()
    values = matrix.to_numpy()
    k = len(matrix)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * k, 1.0 + 0.45 * k))
    ax.imshow(values, cmap="Greys")
    ax.set_xticks(range(k), [_short(c) for c in matrix.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(k), [_short(c) for c in matrix.index], fontsize=7)
    ax.set_xlabel(columns, fontsize=8)
    ax.set_ylabel(rows, fontsize=8)
    high = values.max() if values.size else 0
    for i, j in np.ndindex(values.shape):
        if values[i, j]:
            ax.text(
                j,
                i,
                str(values[i, j]),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if values[i, j] > high / 2 else "black",
            )
    return figure_png(fig)


def _thumbnail(root: str, raw: str) -> Any:
    """A top-loss (or suspect) image as RGB pixels, read under the scan's rules; None with the reason
    if refused.

    The path comes from a run folder's JSON, which anyone could have edited: it must stay inside the
    dataset root (no absolute path, no "..", no link out of the root) and be within the default
    pixel limit, exactly as the scan would have required.
    """
    import io as _io
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from datasize.dataset.manifest import safe_relative_path
    from datasize.dataset.probe import DEFAULT_MAX_PIXELS, ProbeOptions, pixel_limit, read_file_checked

    try:
        rel = safe_relative_path(str(raw), Path(root))
        data = read_file_checked(rel, ProbeOptions(root=root))
        with pixel_limit(DEFAULT_MAX_PIXELS), Image.open(_io.BytesIO(data)) as image:
            if image.width * image.height > DEFAULT_MAX_PIXELS:
                return None, "over the pixel limit"
            image.thumbnail((128, 128))
            return np.asarray(image.convert("RGB")), ""
    except Exception as exc:  # gone since the run, refused, or not an image: show the title alone
        return None, str(exc)


@plain_text
def top_losses_png(losses: Any, root: str, *, columns: int = 4) -> bytes:
    """The top-loss validation images, read from the dataset, titled predicted / actual / loss / p.

    An image that cannot be shown (see `_thumbnail`) leaves its panel empty but keeps its title.
    """
    plt = _pyplot()
    n = max(1, len(losses))
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.5 * rows), squeeze=False)
    for ax, row in zip(axes.flat, losses.to_dict("records"), strict=False):
        pixels, _ = _thumbnail(root, row["path"])
        if pixels is not None:
            ax.imshow(pixels)
        ax.set_title(
            f"{row['predicted']} / {row['label']}\nloss {row['loss']:.2f}, p {row['probability']:.2f}",
            fontsize=7,
        )
    for ax in axes.flat:
        ax.set_axis_off()
    return figure_png(fig)


@plain_text
def label_issues_png(issues: Any, root: str, *, columns: int = 4) -> bytes:
    """The suspected label errors, read from the dataset, titled given -> suggested and the
    self-confidence (the probability of the given label); read as `_thumbnail` reads (the paths come
    from a run folder anyone could edit)."""
    plt = _pyplot()
    n = max(1, len(issues))
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.5 * rows), squeeze=False)
    for ax, row in zip(axes.flat, issues.to_dict("records"), strict=False):
        pixels, _ = _thumbnail(root, row["path"])
        if pixels is not None:
            ax.imshow(pixels)
        ax.set_title(
            f"#{row['rank']}: {_short(row['given'], 14)} -> {_short(row['suggested'], 14)}\n"
            f"self-confidence {row['self_confidence']:.3g}",
            fontsize=7,
        )
    for ax in axes.flat:
        ax.set_axis_off()
    return figure_png(fig)


def plot_lr_find(result: LRFinderResult, path: str | os.PathLike, *, chosen_lr: float | None = None) -> None:
    """The smoothed loss against the learning rate (log scale), with the suggestions marked, as PNG."""
    import numpy as np

    plt = _pyplot()
    s = result.suggestion
    fig, ax = plt.subplots(figsize=(6, 3.6))
    curve = result.curve[np.isfinite(result.curve["smoothed"])]
    ax.plot(curve["lr"], curve["smoothed"], color=PALETTE[0], label="smoothed loss")
    marks = [("valley", s.valley, "o"), ("steep", s.steep, "s"), ("minimum/10", s.minimum, "^")]
    for (name, lr, marker), colour in zip(marks, PALETTE[1:], strict=False):
        y = np.interp(np.log10(lr), np.log10(curve["lr"]), curve["smoothed"])
        ax.plot(
            [lr],
            [y],
            marker=marker,
            linestyle="none",
            color=colour,
            markersize=8,
            label=f"{name} {format_lr(lr)}",
        )
    if chosen_lr is not None:
        ax.axvline(
            chosen_lr, color=PALETTE[7], linestyle="--", linewidth=1, label=f"chosen {format_lr(chosen_lr)}"
        )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss (smoothed)")
    title = "LR range test" + ("" if s.confident else " — low confidence: " + "; ".join(s.reasons))
    ax.set_title(title, fontsize=9, wrap=True)
    ax.legend(fontsize=8)
    save_figure(fig, path)


@plain_text
def plot_top_losses(
    losses: pd.DataFrame, cache: ImageCache, path: str | os.PathLike, *, columns: int = 4
) -> None:
    """A PNG grid: each image titled predicted / actual / loss / probability of the prediction."""
    import numpy as np

    plt = _pyplot()
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
