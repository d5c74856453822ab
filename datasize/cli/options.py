"""The options and helpers the commands share, and the one-line error for a bad argument.

How to read a dataset, split it and build the model are options of several commands; they are
declared once here, each group beside the typed record a command receives it as (`ScanOptions`,
`DataOptions`, `ModelOptions`), so that names, defaults and help stay the same everywhere and a
command never picks options out of its keyword arguments by name.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import click

from datasize.errors import FolderBusy, RunsFailed, ValidationFailed

if TYPE_CHECKING:
    from datasize.training.loop import TrainConfig
    from datasize.training.preparation import Prepared

# Exit codes, the same for every command (README: "Exit codes").
EXIT_FAILED = 1  # the data or the runs failed what was asked: validation found errors, or no run finished
EXIT_USAGE = 2  # a bad option or argument, a missing or unreadable file
EXIT_INTERNAL = 3  # a bug in datasize, or the system failed (a full disk)
EXIT_INTERRUPTED = 130  # Ctrl-C; finished work is saved


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def api_errors(command: Callable) -> Callable:
    """Bad arguments and missing files from the API become a one-line error with exit code 2.

    Anything else is a bug in datasize: one line, exit code 3, and the traceback only when the
    DATASIZE_DEBUG environment variable is set.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, FolderBusy) as exc:
            click.echo(f"Error: {_first_line(exc)}", err=True)
            sys.exit(EXIT_USAGE)
        except (RunsFailed, ValidationFailed) as exc:
            click.echo(f"Error: {_first_line(exc)}", err=True)
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
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


def option_group(record: type, parameter: str, options: list[Callable]) -> Callable[[Callable], Callable]:
    """A decorator that adds `options` to a command and hands their values to it as one `record`
    (a dataclass whose fields are the options' names), in the keyword argument `parameter`."""
    names = [f.name for f in fields(record)]

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return command(*args, **{parameter: record(**values)}, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


@dataclass(frozen=True)
class ScanOptions:
    """How to read a dataset: the `scan` options every command that reads one shares."""

    labels: str | None  # a CSV of labels
    path_col: str
    label_col: str
    group_col: str | None
    split_col: str | None
    label_re: str | None
    jobs: int | None  # worker processes for probing (and, for curve and labels, parallel runs)
    max_pixels: int | None  # None: the default limit
    follow_links: bool
    allow_outside_root: bool
    quiet: bool  # no progress bars

    @property
    def pixel_limit(self) -> int:
        """--max-pixels, or the default limit."""
        from datasize.dataset.probe import DEFAULT_MAX_PIXELS

        return self.max_pixels or DEFAULT_MAX_PIXELS

    def scan_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `datasize.scan` (and of `validate`, `prepare`) but `max_pixels`,
        which `validate` takes in its CheckConfig: see `pixel_limit`."""
        return {
            "labels": self.labels,
            "path_col": self.path_col,
            "label_col": self.label_col,
            "group_col": self.group_col,
            "split_col": self.split_col,
            "label_re": self.label_re,
            "jobs": self.jobs,
            "follow_links": self.follow_links,
            "allow_outside_root": self.allow_outside_root,
        }


scan_options = option_group(
    ScanOptions,
    "reading",
    [
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
            help="Worker processes for probing images, and for curve and labels the parallel training "
            "runs [default: all cores for probing, 1 run at a time].",
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
    ],
)


@dataclass(frozen=True)
class DataOptions:
    """How to get training-ready data: the split to use and how images are decoded."""

    split_file: str | None  # a split written by `datasize split`
    valid_pct: float
    split_seed: int
    size: int | None  # None: from the data
    resize: str
    cache_dir: str | None  # None: in memory (curve: the run folder's cache/)

    def check(self) -> None:
        """Refuse, before any work, a split the options could not make (a given --split is read later)."""
        from datasize.dataset.splits import check_split_options

        if self.split_file is None:
            check_split_options(valid_pct=self.valid_pct, seed=self.split_seed)

    def prepare_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `datasize.prepare` these options set (cache_dir only when given)."""
        chosen = {
            "split_file": self.split_file,
            "valid_pct": self.valid_pct,
            "split_seed": self.split_seed,
            "size": self.size,
            "resize": self.resize,
        }
        return chosen | ({"cache_dir": self.cache_dir} if self.cache_dir else {})


data_options = option_group(
    DataOptions,
    "preparing",
    [
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
            help="Training image size in pixels [default: from the data, 16-64; a backbone's own, 224 "
            "for efficientnet_lite0].",
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
    ],
)


@dataclass(frozen=True)
class ModelOptions:
    """The model and the optimiser settings, and how many torch threads a run uses."""

    model: tuple[str, ...]  # several only for `curve`, which compares them
    batch_size: int
    weight_decay: float
    augment: str | None  # None: shift, or none for a frozen body
    seed: int
    device: str
    threads: int | None  # where a run runs, not what it trains: not part of the TrainConfig
    precision: str
    pretrained: bool
    weights: str | None
    frozen: bool
    freeze_epochs: int
    lr_mult: float

    def train_config(self, **settings: Any) -> TrainConfig:
        """The TrainConfig of these options, with `settings` (epochs, lr) added; one --model only."""
        if len(self.model) > 1:
            raise ValueError(
                f"--model is given {len(self.model)} times; this command trains one model "
                "(`datasize curve` compares several)"
            )
        return self.train_configs(**settings)[0]

    def train_configs(self, **settings: Any) -> list[TrainConfig]:
        """One TrainConfig per --model; with several, the backbone options (--pretrained, --weights,
        --frozen, --freeze-epochs, --lr-mult) go to the efficientnet_lite backbones among them."""
        from datasize.training.loop import model_configs

        return model_configs(
            self.model,
            batch_size=self.batch_size,
            weight_decay=self.weight_decay,
            augment=self.augment,
            seed=self.seed,
            device=self.device,
            precision=self.precision,
            pretrained=self.pretrained,
            weights=self.weights,
            frozen=self.frozen,
            freeze_epochs=self.freeze_epochs,
            lr_mult=self.lr_mult,
            **settings,
        )


model_options = option_group(
    ModelOptions,
    "training",
    [
        click.option(
            "--model",
            multiple=True,
            default=("convnet",),
            show_default=True,
            help="convnet, resnet, efficientnet_lite0/1/2 (ImageNet-pretrained with --pretrained: the "
            "pretrained extra, no download), or tv:<name>/timm:<name> (backbones extra). curve takes it "
            "several times and compares the models on one split (the first is the one in use).",
        ),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option(
            "--weight-decay",
            "--wd",
            "weight_decay",
            type=click.FloatRange(min=0),
            default=1e-2,
            show_default=True,
            help="AdamW weight decay (--wd: the same, its earlier name).",
        ),
        click.option(
            "--augment",
            type=click.Choice(["none", "shift", "flip", "flip+shift"]),
            default=None,
            help="Batch augmentation [default: shift; none with --frozen].",
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
            help="ImageNet weights: efficientnet_lite0/1/2 from the pretrained extra (offline); tv:/timm: "
            "backbones from their libraries' caches.",
        ),
        click.option(
            "--weights",
            type=click.Path(dir_okay=False),
            default=None,
            help="A local state dict for an efficientnet_lite0/1/2 backbone instead of its ImageNet weights.",
        ),
        click.option(
            "--frozen",
            is_flag=True,
            help="Train the head alone on the body's features, computed once per image and kept "
            "(fastai's frozen stage; the body's BatchNorm statistics stay as pretrained). Backbones only.",
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
    ],
)


def check_device(device: str) -> None:
    """Refuse, before any work, a device this machine does not have (`--device cuda` without a GPU)."""
    from datasize.training.batches import pick_device

    pick_device(device)


def prepare_data(data: str, reading: ScanOptions, preparing: DataOptions, config: TrainConfig) -> Prepared:
    """Scan, split and decode DATA as the options say, for the model of `config` (a frozen body's
    features computed), with progress bars unless --quiet."""
    from datasize.cli.terminal import progress_bar
    from datasize.training.preparation import prepare

    decoding_what = "computing features" if config.frozen else "decoding images"
    with (
        progress_bar("probing images", quiet=reading.quiet) as probing,
        progress_bar(decoding_what, quiet=reading.quiet) as decoding,
    ):
        return prepare(
            data,
            max_pixels=reading.pixel_limit,
            progress=probing,
            decode_progress=decoding,
            backbone=config.backbone,
            device=config.device,
            **preparing.prepare_kwargs(),
            **reading.scan_kwargs(),
        )


def echo_prepared(prepared: Prepared) -> None:
    s = prepared.summary()
    features = s.get("features")
    body = f"; {features['model']} features ({features['features']}), computed once" if features else ""
    click.echo(
        f"{s['images']} images, {len(s['classes'])} classes; {s['n_train']} train / {s['n_valid']} valid "
        f"({s['split_method']} split, fingerprint {s['split_fingerprint'][:12]}); "
        f"{s['size']}x{s['size']} px, {s['channels']} channel{'s' if s['channels'] > 1 else ''}{body}"
    )


def parse_lr(ctx: click.Context | None, param: click.Parameter | None, value: str) -> float | None:
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


# `--max-epochs` of the commands with `--epochs auto` (curve, labels): curves.plan.DEFAULT_MAX_EPOCHS
# (that module imports torch: not at --help).
max_epochs_option = click.option(
    "--max-epochs",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="With --epochs auto: the longest the pilot tries.",
)


def parse_epochs(ctx: click.Context | None, param: click.Parameter | None, value: str) -> int | None:
    """`--epochs`: a whole number of at least 1, or 'auto' (None) for the pilot's choice."""
    if value == "auto":
        return None
    try:
        epochs = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a whole number nor 'auto'") from None
    if epochs < 1:
        raise click.BadParameter(f"{value!r} must be at least 1")
    return epochs


def float_list(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> tuple | None:
    """A comma-separated list of numbers ("1/16,1/8,0.25" and fractions like 1/16 accepted)."""
    if value is None:
        return None
    from fractions import Fraction

    try:
        return tuple(float(Fraction(part.strip())) for part in value.split(",") if part.strip())
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
