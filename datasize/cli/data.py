"""The commands that read a dataset and write no model: scan, validate and split."""

from __future__ import annotations

import json
import sys

import click

from datasize.cli.options import ScanOptions, api_errors, scan_options
from datasize.vocab import SplitMethod


@click.command()
@click.argument("data", type=click.Path())
@scan_options
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the manifest as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON records.")
@click.option(
    "--scheduler",
    default=None,
    help="A Dask scheduler address (tcp://host:8786): probe the images on its workers (which must "
    "read DATA at the same path).",
)
@api_errors
def scan(data: str, output: str | None, as_json: bool, scheduler: str | None, reading: ScanOptions) -> None:
    """Build the manifest of DATA: one row per image, probed in parallel.

    DATA is a folder of class folders (ImageNet style, optionally under train/ and valid/), or the
    root that --labels or --label-re paths are relative to.
    """
    from datasize.cli.terminal import console, manifest_summary, progress_bar
    from datasize.dataset.manifest import scan as scan_api
    from datasize.io import write_csv_atomic

    with progress_bar("probing images", quiet=reading.quiet) as progress:
        manifest = scan_api(
            data,
            max_pixels=reading.pixel_limit,
            progress=progress,
            scheduler=scheduler,
            **reading.scan_kwargs(),
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


@click.command()
@click.argument("data", type=click.Path())
@scan_options
@click.option(
    "--split",
    "split_file",
    type=click.Path(dir_okay=False),
    help="A split CSV (path, split); copies across train and valid are errors.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["info", "warning", "error", "none"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding reaches this severity (none: never; as curve's and recipes' fail_on).",
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
    default=10,
    show_default=True,
    help="Near-duplicate candidates: pHash distance in bits, at most (each is then verified).",
)
@click.option(
    "--near-threshold",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Near duplicates: candidates whose thumbnails (and images, for files of one size) are at least "
    "this similar (0-1).",
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
@click.option(
    "--scheduler",
    default=None,
    help="A Dask scheduler address (tcp://host:8786): probe the images on its workers (which must "
    "read DATA at the same path).",
)
@api_errors
def validate(
    data: str,
    split_file: str | None,
    fail_on: str,
    as_json: bool,
    output: str | None,
    suite_out: str | None,
    suite_in: str | None,
    show: int,
    min_side: int,
    max_aspect: float,
    near_radius: int,
    near_threshold: float,
    min_class_images: int,
    imbalance_ratio: float,
    scheduler: str | None,
    reading: ScanOptions,
) -> None:
    """Check every image of DATA and the table of labels; never changes a file.

    Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 for a usage error.
    """
    from datasize.cli.terminal import console, findings_lines, findings_report, step_bars
    from datasize.dataset.checks import CheckConfig
    from datasize.dataset.expectations import load_suite, save_suite
    from datasize.dataset.validation import validate as validate_api
    from datasize.io import write_csv_atomic

    config = CheckConfig(
        min_side=min_side,
        max_aspect=max_aspect,
        near_radius=near_radius,
        near_threshold=near_threshold,
        min_class_images=min_class_images,
        imbalance_ratio=imbalance_ratio,
        max_pixels=reading.pixel_limit,
    )
    suite = load_suite(suite_in) if suite_in else None
    with step_bars(quiet=reading.quiet or as_json) as steps:
        findings = validate_api(
            data,
            config=config,
            split=split_file,
            suite=suite,
            steps=steps,
            scheduler=scheduler,
            **reading.scan_kwargs(),
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


@click.command()
@click.argument("data", type=click.Path())
@scan_options
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
@click.option(
    "--split-seed",
    "--seed",
    "seed",
    type=int,
    default=42,
    show_default=True,
    help="Seeds the draw (keys the hash); the same option as curve's and train's --split-seed (--seed: "
    "the same, its earlier name here).",
)
@click.option(
    "--near-radius",
    type=click.IntRange(0, 63),
    default=10,
    show_default=True,
    help="Near-duplicate candidates: pHash distance in bits, at most (each is then verified).",
)
@click.option(
    "--near-threshold",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Near duplicates, kept on one side: candidates whose thumbnails (and images, for files of one "
    "size) are at least this similar.",
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
@api_errors
def split(
    data: str,
    method: str | None,
    valid_pct: float,
    seed: int,
    near_radius: int,
    near_threshold: float,
    output: str,
    as_json: bool,
    reading: ScanOptions,
) -> None:
    """Split DATA into train and valid: seeded, reproducible, duplicates kept on one side.

    Writes OUTPUT (path, label, split, and group for --method group) and OUTPUT.json (method, seed,
    counts and the fingerprint that later stages print). The same DATA and seed give byte-identical
    files on any machine.
    """
    from datasize.cli.terminal import console, progress_bar, split_lines
    from datasize.dataset.manifest import scan as scan_api
    from datasize.dataset.splits import check_split_options, sidecar_path, write_split
    from datasize.dataset.splits import split as split_api

    near = {"near_radius": near_radius, "near_threshold": near_threshold}
    check_split_options(method=method, valid_pct=valid_pct, seed=seed, **near)
    if reading.group_col:
        if not reading.labels:
            raise ValueError("--group-col names a column of the --labels CSV; give --labels as well")
        if method not in (None, SplitMethod.GROUP):
            raise ValueError(f"--group-col only applies to --method group, not --method {method}")
        method = SplitMethod.GROUP
    with progress_bar("probing images", quiet=reading.quiet or as_json) as progress:
        manifest = scan_api(data, max_pixels=reading.pixel_limit, progress=progress, **reading.scan_kwargs())
    result = split_api(manifest, method=method, valid_pct=valid_pct, seed=seed, **near)
    write_split(result, output)
    if as_json:
        click.echo(json.dumps(result.info, indent=2, sort_keys=True, ensure_ascii=False))
        return
    out = console()
    for line, style in split_lines(result.info):
        out.print(line, style=style, markup=False, soft_wrap=True)
    out.print(f"split written to {output} and {sidecar_path(output)}", markup=False, soft_wrap=True)
