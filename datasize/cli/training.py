"""The commands that train one model: lr-find and train."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from datasize.cli.options import (
    DataOptions,
    ModelOptions,
    ScanOptions,
    api_errors,
    check_device,
    data_options,
    echo_prepared,
    model_options,
    parse_lr,
    prepare_data,
    scan_options,
)

if TYPE_CHECKING:
    from datasize.training.loop import TrainConfig


@click.command(name="lr-find")
@click.argument("data", type=click.Path())
@scan_options
@data_options
@model_options
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
@api_errors
def lr_find_command(
    data: str,
    start_lr: float,
    end_lr: float,
    num_it: int,
    method: str,
    out_dir: str,
    as_json: bool,
    reading: ScanOptions,
    preparing: DataOptions,
    training: ModelOptions,
) -> None:
    """The LR range test: sweep the learning rate up exponentially and suggest one.

    Suggestions: valley (default, the middle of the longest descent), steep and minimum/10; a
    warning when they disagree by more than 1.5 decades or the loss never falls. Writes the curve
    (CSV, JSON) and its plot (PNG) to --out.
    """
    from datasize.io import jsonable
    from datasize.report.training_files import write_lr_find
    from datasize.training.batches import torch_threads
    from datasize.training.lr_curve import format_lr
    from datasize.training.lr_finder import lr_find

    config = training.train_config()
    preparing.check()
    check_device(config.device)
    prepared = prepare_data(data, reading, preparing, config)
    if not as_json:
        echo_prepared(prepared)
    with torch_threads(training.threads):
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


@click.command()
@click.argument("data", type=click.Path())
@scan_options
@data_options
@model_options
@click.option("--epochs", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--lr",
    "lr",
    callback=parse_lr,
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
@api_errors
def train(
    data: str,
    epochs: int,
    lr: float | None,
    save_path: str | None,
    top_k: int,
    out_dir: str,
    as_json: bool,
    reading: ScanOptions,
    preparing: DataOptions,
    training: ModelOptions,
) -> None:
    """Train one model with one-cycle at a fixed learning rate and diagnose the run.

    Prints `epoch train_loss valid_loss error_rate accuracy time` as it goes, then the diagnosis
    (learning rate too high or too low, too few epochs, overfitting) and the most-confused classes.
    Writes epochs, per-class errors, the confusion matrix and the top-loss images (CSV and PNG: the
    images to re-check first for wrong labels) to --out.
    """
    from datasize.cli.terminal import epoch_header, epoch_line
    from datasize.io import jsonable
    from datasize.report.training_files import train_summary, write_training
    from datasize.training.batches import torch_threads
    from datasize.training.interpret import most_confused
    from datasize.training.loop import fit_one_cycle
    from datasize.training.lr_curve import format_lr
    from datasize.training.lr_finder import lr_find
    from datasize.training.model_file import save_model

    config = training.train_config(epochs=epochs, lr=lr or 3e-3)
    preparing.check()
    check_device(config.device)
    prepared = prepare_data(data, reading, preparing, config)
    say = (lambda *_: None) if as_json else click.echo
    if not as_json:
        echo_prepared(prepared)
    finder = None
    with torch_threads(training.threads):
        if lr is None:
            finder = lr_find(prepared.data, config=config)
            suggestion = finder.suggestion
            config = replace(config, lr=suggestion.chosen)
            doubts = "" if suggestion.confident else f" (low confidence: {'; '.join(suggestion.reasons)})"
            say(f"learning rate from the LR finder ({suggestion.method}): {format_lr(config.lr)}{doubts}")
        say(f"training {config.model} for {_plan_words(config)}")
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
    say(f"diagnosis: {', '.join(diagnosis.kinds)}")
    for item in diagnosis.items:  # each finding once, in words
        say(f"  - {item.message}")
    confused = most_confused(result.valid_predictions).head(5)
    if not confused.empty:
        say(
            "most confused (actual -> predicted, count): "
            + ", ".join(f"{r.actual} -> {r.predicted} ({r.count})" for r in confused.itertuples())
        )
    predictions = result.valid_predictions
    if (predictions["label"] == predictions["predicted"]).all():
        say("no validation image was predicted wrong: no label to re-check")
    else:
        say(f"top-loss images (re-check their labels first): {files['top_losses_plot']}")
    say(f"run files written to {out_dir}" + (f"; model saved to {save_path}" if save_path else ""))


def _plan_words(config: TrainConfig) -> str:
    """What the run will do, in words: epochs, learning rates and seed (fine-tuning in two phases)."""
    from datasize.training.lr_curve import format_lr

    if not config.freeze_epochs:
        return f"{config.epochs} epochs at max lr {format_lr(config.lr)}, seed {config.seed}"
    body = f", body at lr/{config.lr_mult:g}" if config.lr_mult != 1 else ""
    return (
        f"{config.freeze_epochs} frozen epoch{'s' if config.freeze_epochs > 1 else ''} at max lr "
        f"{format_lr(config.lr)}, then {config.epochs} unfrozen at {format_lr(config.lr / 2)}{body}, "
        f"seed {config.seed}"
    )
