"""The options and helpers the commands share, and the one-line error for a bad argument.

How to read a dataset, split it and build the model are options of several commands; they are
declared once here so that their names, defaults and help stay the same everywhere.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

EXIT_USAGE = 2
EXIT_INTERNAL = 3


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _api_errors(command: Callable) -> Callable:
    """Bad arguments and missing files from the API become a one-line error with exit code 2.

    Anything else is a bug in datasize: one line, exit code 3, and the traceback only when the
    DATASIZE_DEBUG environment variable is set.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
            click.echo(f"Error: {_first_line(exc)}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except OSError as exc:  # a file gone since the scan, a full disk: name the file
            if os.environ.get("DATASIZE_DEBUG"):
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(f"Error: {exc.strerror or _first_line(exc)}{where}", err=True)
            sys.exit(EXIT_INTERNAL)
        except Exception as exc:
            if os.environ.get("DATASIZE_DEBUG"):
                raise
            click.echo(
                f"Error: internal error {type(exc).__name__}: {_first_line(exc)} "
                "(set DATASIZE_DEBUG=1 for the traceback)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)

    return wrapper


def _scan_options(command: Callable) -> Callable:
    """The options that say how to read a dataset; shared by scan and validate."""
    options = [
        click.option(
            "--labels", type=click.Path(dir_okay=False), help="CSV of labels (paths relative to DATA)."
        ),
        click.option(
            "--path-col", default="path", show_default=True, help="Column of --labels holding paths."
        ),
        click.option(
            "--label-col", default="label", show_default=True, help="Column of --labels holding labels."
        ),
        click.option(
            "--group-col", default=None, help="Column of --labels holding groups (patient, camera...)."
        ),
        click.option(
            "--split-col", default=None, help="Column of --labels holding a given split (train/valid)."
        ),
        click.option(
            "--label-re",
            default=None,
            help=r"Regex on file names; its (?P<label>...) group (or first group) is the label, "
            r"e.g. '^(.+)_\d+\.jpg$'.",
        ),
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(min=1),
            default=None,
            help="Worker processes for probing images, and for curve the parallel training runs "
            "[default: all cores for probing, 1 run at a time].",
        ),
        click.option(
            "--max-pixels",
            type=click.IntRange(min=1),
            default=None,
            help="Refuse images declaring more pixels, undecoded [default: 89,478,485].",
        ),
        click.option("--follow-links", is_flag=True, help="Follow links that lead outside DATA."),
        click.option(
            "--allow-outside-root", is_flag=True, help="Allow CSV paths that are absolute or use '..'."
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _scan_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    keys = ("labels", "path_col", "label_col", "group_col", "split_col", "label_re", "jobs")
    out = {k: kw[k] for k in keys}
    out.update(follow_links=kw["follow_links"], allow_outside_root=kw["allow_outside_root"])
    return out


def _data_options(command: Callable) -> Callable:
    """How to get training-ready data: the split to use and how images are decoded."""
    options = [
        click.option(
            "--split",
            "split_file",
            type=click.Path(dir_okay=False),
            help="A split written by `datasize split` (its fingerprint is checked).",
        ),
        click.option(
            "--valid-pct",
            type=float,
            default=0.2,
            show_default=True,
            help="Without --split: share of images for validation.",
        ),
        click.option(
            "--split-seed", type=int, default=42, show_default=True, help="Without --split: the split's seed."
        ),
        click.option(
            "--size",
            type=click.IntRange(4, 1024),
            default=None,
            help="Training image size in pixels [default: from the data, 16-64].",
        ),
        click.option(
            "--resize",
            type=click.Choice(["squish", "crop", "pad"]),
            default="squish",
            show_default=True,
            help="How images become squares.",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Keep decoded images here and reuse them across commands.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _model_options(command: Callable) -> Callable:
    """The model and the optimiser settings shared by lr-find and train."""
    options = [
        click.option(
            "--model",
            default="convnet",
            show_default=True,
            help="convnet, resnet, or tv:<name>/timm:<name> (backbones extra).",
        ),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option(
            "--wd",
            "weight_decay",
            type=click.FloatRange(min=0),
            default=1e-2,
            show_default=True,
            help="AdamW weight decay.",
        ),
        click.option(
            "--augment",
            type=click.Choice(["none", "shift", "flip", "flip+shift"]),
            default="shift",
            show_default=True,
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of model init, batch order and augmentation.",
        ),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=None,
            help="torch threads per run; fewer run steadier on a shared machine [default: torch's, "
            "or the cores shared among --jobs].",
        ),
        click.option(
            "--precision",
            type=click.Choice(["fp32", "bf16", "auto"]),
            default="fp32",
            show_default=True,
            help="bf16: forward passes in bfloat16 autocast (faster on CPUs with AVX512-BF16/AMX and recent "
            "GPUs; weights stay fp32). auto: bf16 where the device has it natively, else fp32.",
        ),
        click.option(
            "--pretrained/--no-pretrained",
            default=False,
            show_default=True,
            help="Pretrained weights (tv:/timm: backbones; from their libraries' caches).",
        ),
        click.option(
            "--freeze-epochs",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="fastai's fine_tune: train the head this many epochs with the body frozen, "
            "then everything for --epochs at half the LR.",
        ),
        click.option(
            "--lr-mult",
            type=click.FloatRange(min=1),
            default=1.0,
            show_default=True,
            help="Discriminative LRs: the body trains at LR/lr-mult, the head at LR (fastai: 100).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


_MODEL_KEYS = (
    "model",
    "batch_size",
    "weight_decay",
    "augment",
    "seed",
    "device",
    "precision",
    "pretrained",
    "freeze_epochs",
    "lr_mult",
)


def _model_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """Take the `_model_options` values out of the command's keyword arguments, for TrainConfig.

    `--threads` is not a training setting but where it runs: in-process commands apply it here.
    """
    threads = kw.pop("threads")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return {k: kw.pop(k) for k in _MODEL_KEYS}


def _prepare_from_options(data: str, kw: dict[str, Any], quiet: bool) -> Any:
    from datasize.cli.terminal import progress_bar
    from datasize.training.preparation import prepare

    with (
        progress_bar("probing images", quiet=quiet) as probing,
        progress_bar("decoding images", quiet=quiet) as decoding,
    ):
        return prepare(
            data,
            split_file=kw.pop("split_file"),
            valid_pct=kw.pop("valid_pct"),
            split_seed=kw.pop("split_seed"),
            size=kw.pop("size"),
            resize=kw.pop("resize"),
            cache_dir=kw.pop("cache_dir"),
            progress=probing,
            decode_progress=decoding,
            **_scan_kwargs(kw),
        )


def _echo_prepared(prepared: Any) -> None:
    s = prepared.summary()
    click.echo(
        f"{s['images']} images, {len(s['classes'])} classes; {s['n_train']} train / {s['n_valid']} valid "
        f"({s['split_method']} split, fingerprint {s['split_fingerprint'][:12]}); "
        f"{s['size']}x{s['size']} px, {s['channels']} channel{'s' if s['channels'] > 1 else ''}"
    )


def _parse_lr(ctx: click.Context | None, param: click.Parameter | None, value: str) -> float | None:
    """`--lr`: a positive number, or 'auto' (None) for the LR finder's suggestion."""
    if value == "auto":
        return None
    try:
        lr = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number nor 'auto'") from None
    if not lr > 0:
        raise click.BadParameter(f"{value!r} must be positive")
    return lr


def _float_list(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> tuple | None:
    """A comma-separated list of numbers ("1/16,1/8,0.25" and fractions like 1/16 accepted)."""
    if value is None:
        return None
    from fractions import Fraction

    try:
        return tuple(float(Fraction(part.strip())) for part in value.split(",") if part.strip())
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
