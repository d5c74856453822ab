"""The `datasize` command line: parses options, calls the API, renders what it returns.

Kept thin and quick to import: every heavy import happens inside the command that needs it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from datasize.vocab import SplitMethod

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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="datasize-toolkit", prog_name="datasize")
def main() -> None:
    """Is my image dataset sound, and do I need more images — how many?

    Start with `datasize validate DATA`. Every command takes --help.
    """


@main.command()
@click.argument("data", type=click.Path())
@_scan_options
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the manifest as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON records.")
@_api_errors
def scan(
    data: str, output: str | None, as_json: bool, quiet: bool, max_pixels: int | None, **kw: Any
) -> None:
    """Build the manifest of DATA: one row per image, probed in parallel.

    DATA is a folder of class folders (ImageNet style, optionally under train/ and valid/), or the
    root that --labels or --label-re paths are relative to.
    """
    from datasize.io import write_csv_atomic
    from datasize.manifest import scan as scan_api
    from datasize.probe import DEFAULT_MAX_PIXELS
    from datasize.report.terminal import console, manifest_summary, progress_bar

    with progress_bar("probing images", quiet=quiet) as progress:
        manifest = scan_api(
            data, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, progress=progress, **_scan_kwargs(kw)
        )
    if output:
        write_csv_atomic(output, manifest)
    if as_json:
        click.echo(manifest.to_json(orient="records", indent=1))
        return
    out = console()
    out.print(manifest_summary(manifest))
    if output:
        out.print(f"manifest written to {output}")


@main.command()
@click.argument("data", type=click.Path())
@_scan_options
@click.option(
    "--split",
    "split_file",
    type=click.Path(dir_okay=False),
    help="A split CSV (path, split); copies across train and valid are errors.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["info", "warning", "error"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding reaches this severity.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the findings as CSV.")
@click.option(
    "--suite",
    "suite_out",
    type=click.Path(dir_okay=False),
    help="Save the Great Expectations suite that ran, as JSON.",
)
@click.option(
    "--expect",
    "suite_in",
    type=click.Path(dir_okay=False),
    help="Re-run a saved suite instead of building one.",
)
@click.option(
    "--show",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Findings shown per check in the terminal.",
)
@click.option(
    "--min-side",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Images with a shorter side are too small.",
)
@click.option(
    "--max-aspect",
    type=click.FloatRange(min=1),
    default=4.0,
    show_default=True,
    help="Longest/shortest side above this is extreme.",
)
@click.option(
    "--near-radius",
    type=click.IntRange(0, 63),
    default=5,
    show_default=True,
    help="Near duplicates: hash distance in bits, at most.",
)
@click.option(
    "--min-class-images",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Classes with fewer readable images are too small.",
)
@click.option(
    "--imbalance-ratio",
    type=click.FloatRange(min=1),
    default=5.0,
    show_default=True,
    help="A class this many times rarer than the largest is imbalanced.",
)
@_api_errors
def validate(
    data: str,
    split_file: str | None,
    fail_on: str,
    as_json: bool,
    output: str | None,
    suite_out: str | None,
    suite_in: str | None,
    show: int,
    quiet: bool,
    max_pixels: int | None,
    min_side: int,
    max_aspect: float,
    near_radius: int,
    min_class_images: int,
    imbalance_ratio: float,
    **kw: Any,
) -> None:
    """Check every image of DATA and the table of labels; never changes a file.

    Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 for a usage error.
    """
    from datasize.checks import CheckConfig
    from datasize.expectations import load_suite, save_suite
    from datasize.io import write_csv_atomic
    from datasize.probe import DEFAULT_MAX_PIXELS
    from datasize.report.terminal import console, findings_lines, findings_report, progress_bar
    from datasize.validation import validate as validate_api

    config = CheckConfig(
        min_side=min_side,
        max_aspect=max_aspect,
        near_radius=near_radius,
        min_class_images=min_class_images,
        imbalance_ratio=imbalance_ratio,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
    )
    suite = load_suite(suite_in) if suite_in else None
    with progress_bar("probing images", quiet=quiet or as_json) as progress:
        findings = validate_api(
            data, config=config, split=split_file, suite=suite, progress=progress, **_scan_kwargs(kw)
        )
    if suite_out:
        save_suite(findings.suite, suite_out)
    if output:
        write_csv_atomic(output, findings.table.assign(related=findings.table["related"].map(json.dumps)))
    if as_json:
        click.echo(json.dumps(findings.to_dict(fail_on), indent=2, ensure_ascii=False))
    else:
        out = console()
        if out.is_terminal:
            for renderable in findings_report(findings, fail_on=fail_on, show=show):
                out.print(renderable)
        else:
            click.echo("\n".join(findings_lines(findings, fail_on=fail_on, show=show)))
        for path, what in ((suite_out, "suite"), (output, "findings")):
            if path:
                out.print(f"{what} written to {path}")
    sys.exit(0 if findings.passed(fail_on) else 1)


@main.command()
@click.argument("data", type=click.Path())
@_scan_options
@click.option(
    "--method",
    type=click.Choice([m.value for m in SplitMethod]),
    default=None,
    help="How to choose validation images [default: group with --group-col; given when DATA has "
    "train/ and valid/ folders or --split-col; else stratified].",
)
@click.option(
    "--valid-pct",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of images for validation, between 0 and 1.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Seeds the draw (keys the hash).")
@click.option(
    "--near-radius",
    type=click.IntRange(0, 63),
    default=5,
    show_default=True,
    help="Near duplicates, kept on one side: hash distance in bits, at most.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default="split.csv",
    show_default=True,
    help="The split CSV; its record goes beside it as OUTPUT.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the split's record as JSON.")
@_api_errors
def split(
    data: str,
    method: str | None,
    valid_pct: float,
    seed: int,
    near_radius: int,
    output: str,
    as_json: bool,
    quiet: bool,
    max_pixels: int | None,
    **kw: Any,
) -> None:
    """Split DATA into train and valid: seeded, reproducible, duplicates kept on one side.

    Writes OUTPUT (path, label, split, and group for --method group) and OUTPUT.json (method, seed,
    counts and the fingerprint that later stages print). The same DATA and seed give byte-identical
    files on any machine.
    """
    from datasize.manifest import scan as scan_api
    from datasize.probe import DEFAULT_MAX_PIXELS
    from datasize.report.terminal import console, progress_bar, split_lines
    from datasize.splits import check_split_options, sidecar_path, write_split
    from datasize.splits import split as split_api

    check_split_options(method=method, valid_pct=valid_pct, seed=seed, near_radius=near_radius)
    if kw["group_col"]:
        if not kw["labels"]:
            raise ValueError("--group-col names a column of the --labels CSV; give --labels as well")
        if method not in (None, SplitMethod.GROUP):
            raise ValueError(f"--group-col only applies to --method group, not --method {method}")
        method = SplitMethod.GROUP
    with progress_bar("probing images", quiet=quiet or as_json) as progress:
        manifest = scan_api(
            data, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, progress=progress, **_scan_kwargs(kw)
        )
    result = split_api(manifest, method=method, valid_pct=valid_pct, seed=seed, near_radius=near_radius)
    write_split(result, output)
    if as_json:
        click.echo(json.dumps(result.info, indent=2, sort_keys=True, ensure_ascii=False))
        return
    out = console()
    for line, style in split_lines(result.info):
        out.print(line, style=style, markup=False, soft_wrap=True)
    out.print(f"split written to {output} and {sidecar_path(output)}", markup=False, soft_wrap=True)


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
            type=click.Choice(["fp32", "bf16"]),
            default="fp32",
            show_default=True,
            help="bf16: forward passes in bfloat16 autocast (faster on CPUs with AVX512-BF16/AMX and recent "
            "GPUs; weights stay fp32).",
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
    from datasize.preparation import prepare
    from datasize.report.terminal import progress_bar

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


@main.command(name="lr-find")
@click.argument("data", type=click.Path())
@_scan_options
@_data_options
@_model_options
@click.option("--start-lr", type=float, default=1e-7, show_default=True)
@click.option("--end-lr", type=float, default=10.0, show_default=True)
@click.option("--num-it", type=click.IntRange(min=10), default=100, show_default=True)
@click.option(
    "--suggest",
    "method",
    type=click.Choice(["valley", "steep", "minimum"]),
    default="valley",
    show_default=True,
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs/lr-find",
    show_default=True,
    help="Folder for lr_find.csv/.json/.png.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the suggestion as JSON.")
@_api_errors
def lr_find_command(
    data: str,
    start_lr: float,
    end_lr: float,
    num_it: int,
    method: str,
    out_dir: str,
    as_json: bool,
    quiet: bool,
    max_pixels: int | None,
    **kw: Any,
) -> None:
    """The LR range test: sweep the learning rate up exponentially and suggest one.

    Suggestions: valley (default, the middle of the longest descent), steep and minimum/10; a
    warning when they disagree by more than 1.5 decades or the loss never falls. Writes the curve
    (CSV, JSON) and its plot (PNG) to --out.
    """
    from datasize.lr_finder import format_lr, lr_find
    from datasize.outputs import jsonable, write_lr_find
    from datasize.train import TrainConfig

    config = TrainConfig(**_model_kwargs(kw))
    prepared = _prepare_from_options(data, kw, quiet)
    if not as_json:
        _echo_prepared(prepared)
    finder = lr_find(
        prepared.data, config=config, start_lr=start_lr, end_lr=end_lr, num_it=num_it, method=method
    )
    write_lr_find(out_dir, finder, chosen_lr=finder.suggestion.chosen)
    s = finder.suggestion
    if as_json:
        click.echo(json.dumps(jsonable({"suggestion": s.to_dict(), "out": out_dir}), indent=2))
        return
    click.echo(f"suggested learning rate ({s.method}): {format_lr(s.chosen)}")
    click.echo(
        f"  valley {format_lr(s.valley)}, steep {format_lr(s.steep)}, minimum/10 {format_lr(s.minimum)}"
    )
    if not s.confident:
        click.echo("  low confidence: " + "; ".join(s.reasons))
    click.echo(f"curve and plot written to {out_dir}/lr_find.csv, lr_find.json, lr_find.png")


@main.command()
@click.argument("data", type=click.Path())
@_scan_options
@_data_options
@_model_options
@click.option("--epochs", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--lr",
    "lr",
    callback=_parse_lr,
    default="3e-3",
    show_default=True,
    help="Maximum learning rate of the one-cycle schedule, or 'auto' for the LR finder's suggestion.",
)
@click.option(
    "--save",
    "save_path",
    type=click.Path(dir_okay=False),
    help="Save the weights and config (loads with torch.load(weights_only=True)).",
)
@click.option(
    "--top-losses",
    "top_k",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Validation images with the highest loss to show.",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs/train",
    show_default=True,
    help="Folder for the run's files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
@_api_errors
def train(
    data: str,
    epochs: int,
    lr: float | None,
    save_path: str | None,
    top_k: int,
    out_dir: str,
    as_json: bool,
    quiet: bool,
    max_pixels: int | None,
    **kw: Any,
) -> None:
    """Train one model with one-cycle at a fixed learning rate and diagnose the run.

    Prints `epoch train_loss valid_loss error_rate accuracy time` as it goes, then the diagnosis
    (learning rate too high or too low, too few epochs, overfitting) and the most-confused classes.
    Writes epochs, per-class errors, the confusion matrix and the top-loss images (CSV and PNG: the
    images to re-check first for wrong labels) to --out.
    """
    from datasize.interpret import most_confused
    from datasize.lr_finder import format_lr, lr_find
    from datasize.outputs import jsonable, train_summary, write_training
    from datasize.report.terminal import epoch_header, epoch_line
    from datasize.train import TrainConfig, fit_one_cycle, save_model

    config = TrainConfig(
        epochs=epochs,
        lr=lr or 3e-3,
        **_model_kwargs(kw),
    )
    prepared = _prepare_from_options(data, kw, quiet)
    say = (lambda *_: None) if as_json else click.echo
    if not as_json:
        _echo_prepared(prepared)
    finder = None
    if lr is None:
        finder = lr_find(prepared.data, config=config)
        config = TrainConfig(**{**config.__dict__, "lr": finder.suggestion.chosen})
        say(
            f"learning rate from the LR finder ({finder.suggestion.method}): {format_lr(config.lr)}"
            + (
                ""
                if finder.suggestion.confident
                else " (low confidence: " + "; ".join(finder.suggestion.reasons) + ")"
            )
        )
    plan = f"{config.epochs} epochs at max lr {format_lr(config.lr)}, seed {config.seed}"
    if config.freeze_epochs:
        body = f", body at lr/{config.lr_mult:g}" if config.lr_mult != 1 else ""
        plan = (
            f"{config.freeze_epochs} frozen epoch{'s' if config.freeze_epochs > 1 else ''} at max lr "
            f"{format_lr(config.lr)}, then {config.epochs} unfrozen at {format_lr(config.lr / 2)}{body}, "
            f"seed {config.seed}"
        )
    say(f"training {config.model} for {plan}")
    say(epoch_header())
    result = fit_one_cycle(
        prepared.data,
        config=config,
        on_epoch=lambda row: say(epoch_line(row)),
        lr_suggestion=finder.suggestion if finder else None,
    )
    files = write_training(out_dir, result, prepared, finder=finder, top_k=top_k)
    if save_path:
        save_model(result, save_path, cache=prepared.cache)
    if as_json:
        click.echo(
            json.dumps(
                jsonable({**train_summary(result, prepared, finder), "out": out_dir}),
                indent=2,
                sort_keys=True,
            )
        )
        return
    diagnosis = result.diagnosis
    say(f"diagnosis: {diagnosis.summary()}")
    if len(diagnosis.items) > 1 or diagnosis.primary != "ok":
        for item in diagnosis.items:
            say(f"  - {item.message}")
    confused = most_confused(result.valid_predictions).head(5)
    if not confused.empty:
        say(
            "most confused (actual -> predicted, count): "
            + ", ".join(f"{r.actual} -> {r.predicted} ({r.count})" for r in confused.itertuples())
        )
    say(f"top-loss images (re-check their labels first): {files['top_losses_plot']}")
    say(f"run files written to {out_dir}" + (f"; model saved to {save_path}" if save_path else ""))


def _float_list(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> tuple | None:
    """A comma-separated list of numbers ("1/16,1/8,0.25" and fractions like 1/16 accepted)."""
    if value is None:
        return None
    from fractions import Fraction

    try:
        return tuple(float(Fraction(part.strip())) for part in value.split(",") if part.strip())
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None


@main.command()
@click.argument("data", type=click.Path())
@_scan_options
@_data_options
@_model_options
@click.option(
    "--fractions",
    callback=_float_list,
    default=None,
    help="Fractions of the training set, e.g. '1/16,1/8,1/4,1/2,1' [default].",
)
@click.option(
    "--sizes",
    callback=_float_list,
    default=None,
    help="Absolute training-set sizes instead of fractions, e.g. '100,200,400'.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Runs per size (subset draw and training seed).",
)
@click.option(
    "--seed-stop",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Run seeds beyond the second only where they disagree: skip one once the seeds' standard "
    "error is under this times the validation set's own (see benchmarks/bench_seed_stop.py: on the "
    "samples, --seeds 2 saved more for a smaller change) [default: every seed].",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Epochs of the full training set.",
)
@click.option(
    "--budget",
    type=click.Choice(["steps", "epochs"]),
    default="steps",
    show_default=True,
    help="steps: every size gets the optimiser steps of --epochs passes over the full set; "
    "epochs: --epochs passes over each subset.",
)
@click.option(
    "--lr",
    "lr",
    callback=_parse_lr,
    default="3e-3",
    show_default=True,
    help="One max learning rate for every run, or 'auto' (the LR finder on the full training set, once).",
)
@click.option(
    "--target-error",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Say how many images reach this validation error, e.g. 0.02.",
)
@click.option(
    "--scheduler", default=None, help="A Dask scheduler address (tcp://host:8786): submit the runs there."
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs/curve",
    show_default=True,
    help="Run folder; re-running resumes it.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print runs, forecast, plateau, images_needed, backtest, per_class as JSON.",
)
@_api_errors
def curve(
    data: str,
    fractions: tuple | None,
    sizes: tuple | None,
    seeds: int,
    seed_stop: float | None,
    epochs: int,
    budget: str,
    lr: float | None,
    target_error: float | None,
    scheduler: str | None,
    out_dir: str,
    as_json: bool,
    quiet: bool,
    max_pixels: int | None,
    **kw: Any,
) -> None:
    """Learning curve: train at growing fractions of the training set and forecast the error with more images.

    Every run uses the same fixed validation set and learning rate; subsets are nested and
    stratified. Each finished run is saved in --out at once, so an interrupted curve resumes where
    it stopped. Prints the verdict first: where error plateaus, how many images a target error
    needs (with an interval), and which classes need images most.
    """
    from datasize.curve import CurveConfig
    from datasize.pipeline import run_curve
    from datasize.report.terminal import curve_lines, run_progress
    from datasize.train import TrainConfig

    threads = kw.get("threads")  # also each worker's, with --jobs
    training = TrainConfig(
        epochs=epochs,
        **_model_kwargs(kw),
    )
    if sizes is not None and fractions is not None:
        raise ValueError("give --fractions or --sizes, not both")
    plan: dict[str, Any] = {"fractions": fractions} if fractions else {}
    if sizes is not None:
        plan["sizes"] = tuple(int(s) for s in sizes)
    config = CurveConfig(
        seeds=seeds,
        seed_stop=seed_stop,
        budget=budget,
        lr=lr,
        train=training,
        target_error=target_error,
        **plan,
    )
    prepare_options = {
        "split_file": kw.pop("split_file"),
        "valid_pct": kw.pop("valid_pct"),
        "split_seed": kw.pop("split_seed"),
        "size": kw.pop("size"),
        "resize": kw.pop("resize"),
        **({"cache_dir": kw.pop("cache_dir")} if kw.get("cache_dir") else {}),
        **_scan_kwargs(kw),
    }
    run_jobs = kw.get("jobs") or 1  # --jobs: parallel runs (and image probing)
    say = (lambda *_: None) if as_json else click.echo
    try:
        with run_progress(quiet=quiet or as_json, echo=say) as on_run:
            outcome = run_curve(
                data,
                config=config,
                out=out_dir,
                prepare_options=prepare_options,
                jobs=run_jobs,
                threads=threads,
                scheduler=scheduler,
                on_stage=lambda text: say(f"[{text}]"),
                on_run=on_run,
            )
    except KeyboardInterrupt:
        click.echo(
            f"Interrupted. Finished runs are saved in {out_dir}; run the same command again to resume.",
            err=True,
        )
        sys.exit(130)
    if as_json:
        from datasize.outputs import jsonable

        click.echo(json.dumps(jsonable(outcome.summary()), indent=2, sort_keys=True))
        return
    for line in curve_lines(outcome):
        click.echo(line)


@main.command()
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="html", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write [default: RUN_FOLDER/report.<format>].",
)
@_api_errors
def report(run_folder: str, fmt: str, output: str | None) -> None:
    """Write a report of a `datasize curve` run folder: the verdict first, then the evidence.

    HTML is one self-contained file (plots embedded, no network); Markdown comes with its PNGs in a
    folder beside it; JSON holds the text and tables.
    """
    from datasize.report.document import build_report
    from datasize.report.render import write_report

    target = output or str(Path(run_folder) / f"report.{fmt}")
    written = write_report(build_report(run_folder), target, fmt)
    click.echo(f"report written to {written[0]}")


@main.command(name="run")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@_api_errors
def run_command(recipe: str, quiet: bool) -> None:
    """Run a whole pipeline described by a TOML recipe (see recipes/); re-running resumes it.

    Scans and validates the data, fixes the split, chooses the learning rate, runs the learning
    curve, forecasts, and writes the reports; prints the verdict and the report's path last.
    """
    from datasize.recipe import load_recipe, run_recipe
    from datasize.report.terminal import curve_lines, run_progress

    loaded = load_recipe(recipe)
    click.echo(f"recipe {loaded.source}: data {loaded.data}, run folder {loaded.folder}")
    try:
        with run_progress(quiet=quiet, echo=click.echo) as on_run:
            outcome, reports = run_recipe(
                loaded, on_stage=lambda text: click.echo(f"[{text}]"), on_run=on_run
            )
    except KeyboardInterrupt:
        click.echo(
            f"Interrupted. Finished runs are saved in {loaded.folder}; run the same command again to resume.",
            err=True,
        )
        sys.exit(130)
    for line in curve_lines(outcome):
        click.echo(line)
    for path in sorted(reports, key=lambda p: p.suffix == ".html"):  # the HTML report's path last
        click.echo(f"report: {path}")


@main.command()
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option(
    "--target-error",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Plan the fewest new images whose overall error is at most this, e.g. 0.05.",
)
@click.option(
    "--budget",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Plan the best use of this many new images (of this much money, with --cost).",
)
@click.option(
    "--cost",
    "cost_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV with columns label,cost: the cost of one image of each class; a row '*,COST' prices "
    "every class it does not name [default: every image costs 1].",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.9,
    show_default=True,
    help="With --target-error: the share of the curves' refits that must reach it.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the refits.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), default=None, help="Also write the table as CSV here."
)
@_api_errors
def plan(
    run_folder: str,
    target_error: float | None,
    budget: float | None,
    cost_file: str | None,
    confidence: float,
    seed: int,
    as_json: bool,
    output: str | None,
) -> None:
    """Plan which classes to collect images of: the fewest for --target-error, or the best use of --budget.

    Reads the per-class learning curves of RUN_FOLDER (made by `datasize curve`) and spends new
    images where they cut the overall error most per unit of cost; classes the model mistakes for
    each other are collected together, plateaued classes get nothing. Prints each class's images to
    collect and its expected error after, with intervals, and writes plan.json and plan.csv into
    RUN_FOLDER (`datasize report` shows them). A target is planned for the --confidence quantile.
    """
    if (target_error is None) == (budget is None):
        raise ValueError("give exactly one of --target-error and --budget")
    from datasize.io import write_csv_atomic
    from datasize.plan import plan_collection, write_plan

    result = plan_collection(
        run_folder, target_error=target_error, budget=budget, cost=cost_file, confidence=confidence, seed=seed
    )
    files = write_plan(result, run_folder)
    if output:
        write_csv_atomic(output, result.table)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    for line in _plan_lines(result):
        click.echo(line)
    click.echo(f"plan written to {files[0]} and {files[1]}" + (f"; table to {output}" if output else ""))


def _plan_lines(result: Any) -> list[str]:
    """The plan's verdict, then its table in aligned columns."""
    width = round(100 * (result.interval[1] - result.interval[0]))
    head = [
        "class",
        "group",
        "have",
        "collect",
        "1st round",
        "error now",
        "after",
        f"{width}% interval",
        "reason",
    ]
    rows = [
        [
            str(r.label),
            str(r.group),
            f"{r.have:,}",
            f"{r.collect:,}",
            f"{r.first_round:,}",
            f"{r.error_now:.1%}",
            f"{r.error_after:.1%}",
            f"{r.low:.1%}–{r.high:.1%}",
            str(r.reason),
        ]
        for r in result.table.itertuples()
    ]
    total = [
        "overall",
        "",
        f"{int(result.table['have'].sum()):,}",
        f"{result.images:,}",
        f"{int(result.table['first_round'].sum()):,}",
        f"{result.error_now:.1%}",
        f"{result.expected:.1%}",
        f"{result.low:.1%}–{result.high:.1%}",
        "",
    ]
    widths = [max(len(row[i]) for row in [head, *rows, total]) for i in range(len(head))]

    def line(row: list[str]) -> str:
        cells = [
            c.ljust(w) if i in (0, 1, 8) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [result.verdict(), "", line(head), *map(line, rows), line(total)]
