"""The run folder of a learning curve: the one module that knows its files, writes them and reads them.

    curve.json           what the folder holds (data, split, decoding, the whole plan): resumes check it
    pilot/               `--epochs auto`: the pilot's identity (pilot.json), its runs (e0008-s0.json...)
                         and its choice (choice.json)
    runs/<name>.json     one record per finished run, written the moment it finishes
    runs.csv             one row per run (RUN_COLUMNS)
    per_class.csv        one row per run and class (PER_CLASS_COLUMNS)
    curve_summary.json   the verdict, the forecast and everything the report shows
    split.csv (+ .json)  the fixed split (`datasize.dataset.splits` writes and reads it)
    validation.json      the dataset's findings (`Findings.to_dict`)
    lr_find.*            the LR finder's curve, suggestion and plot, when it ran
    plan.json, plan.csv  the collection plan `datasize plan` made from this curve
    cache/               the decoded images
    report.<format>      the reports

Every other module asks a `RunFolder` for its paths, its run records and its tables.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from datasize.curves.plan import CurveConfig
from datasize.io import jsonable, remove_stale_temporaries, write_csv_atomic, write_json
from datasize.training.backbones import weights_identity
from datasize.training.models import ModelFactory
from datasize.training.preparation import Prepared

CURVE_FORMAT = 1
RUN_COLUMNS = [
    "fraction",
    "n_train",
    "seed",
    "status",
    "error_rate",
    "best_error_rate",
    "train_error",
    "valid_loss",
    "n_valid",
    "diagnosis",
    "overfit_onset_epoch",
    "steps",
    "seconds",
    "message",
]
PER_CLASS_COLUMNS = ["fraction", "n_train", "seed", "label", "n_train_class", "n_valid_class", "error_rate"]
# What the forecast and the collection plan read of those tables: a table built by hand needs only these.
RUN_INPUT_COLUMNS = ("n_train", "seed", "error_rate", "n_valid", "status")
PER_CLASS_INPUT_COLUMNS = tuple(PER_CLASS_COLUMNS[1:])  # all but fraction


@dataclass(frozen=True)
class RunFolder:
    """A curve's run folder (see the module docstring for its files)."""

    path: Path  # a str or PathLike is taken too

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_file(self) -> Path:
        return self.path / "curve.json"

    @property
    def runs_dir(self) -> Path:
        return self.path / "runs"

    @property
    def pilot_dir(self) -> Path:
        return self.path / "pilot"

    @property
    def runs_csv(self) -> Path:
        return self.path / "runs.csv"

    @property
    def per_class_csv(self) -> Path:
        return self.path / "per_class.csv"

    @property
    def summary_file(self) -> Path:
        return self.path / "curve_summary.json"

    @property
    def split_csv(self) -> Path:
        return self.path / "split.csv"

    @property
    def validation_file(self) -> Path:
        return self.path / "validation.json"

    @property
    def plan_files(self) -> tuple[Path, Path]:
        """plan.json (everything) and plan.csv (the table)."""
        return self.path / "plan.json", self.path / "plan.csv"

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    def report_file(self, fmt: str) -> Path:
        return self.path / f"report.{fmt}"

    # --- the curve's identity -------------------------------------------------------------------

    def open(self, identity: dict[str, Any]) -> None:
        """Create the folder, or check that it holds this same curve; ValueError naming what changed."""
        open_identity(self.config_file, identity, what="a learning curve")

    def open_pilot(self, identity: dict[str, Any]) -> None:
        """As `open`, for the pilot's runs (checked before they are reused)."""
        open_identity(self.pilot_dir / "pilot.json", identity, what="a pilot")
        for place in (self.path, self.pilot_dir):
            remove_stale_temporaries(place)

    def pilot_run_file(self, epochs: int, seed: int) -> Path:
        return self.pilot_dir / f"e{epochs:04d}-s{seed}.json"

    def pilot_run(self, epochs: int, seed: int) -> dict[str, Any] | None:
        """A pilot run written earlier, or None (also when it cannot be read: it runs again)."""
        try:
            return json.loads(self.pilot_run_file(epochs, seed).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def write_pilot_run(self, epochs: int, seed: int, record: dict[str, Any]) -> None:
        write_json(self.pilot_run_file(epochs, seed), record)

    def write_pilot_choice(self, choice: dict[str, Any]) -> None:
        write_json(self.pilot_dir / "choice.json", choice)

    def pilot_choice(self) -> dict[str, Any] | None:
        return read_json(self.pilot_dir / "choice.json")

    # --- run records ----------------------------------------------------------------------------

    def prepare_runs(self) -> None:
        """The runs/ folder exists, and what writers killed mid-write left behind is gone."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for place in (self.path, self.runs_dir):
            remove_stale_temporaries(place)

    def write_run(self, name: str, record: dict[str, Any]) -> None:
        write_json(self.runs_dir / f"{name}.json", record)

    def finished_runs(self) -> dict[str, dict[str, Any]]:
        """The run records written so far, by run name (unreadable ones are ignored: run them again)."""
        finished = {}
        for path in sorted(self.runs_dir.glob("*.json")):
            try:
                finished[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
        return finished

    def run_records(self) -> list[dict[str, Any]]:
        """Every finished run's record, smallest size first, then by seed."""
        records = self.finished_runs().values()
        return sorted(records, key=lambda r: (r.get("n_train", 0), r.get("seed", 0)))

    def largest_predictions(self) -> pd.DataFrame | None:
        """The validation predictions (label, predicted) of the largest finished runs that kept them."""
        kept = [r for r in self.run_records() if r.get("status") == "ok" and r.get("predictions")]
        if not kept:
            return None
        largest = max(r["n_train"] for r in kept)
        rows = [p for r in kept if r["n_train"] == largest for p in r["predictions"]]
        return pd.DataFrame(rows, columns=["label", "predicted"]).astype(str)

    # --- tables ---------------------------------------------------------------------------------

    def write_tables(self, records: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """runs.csv and per_class.csv from the records; returns both tables."""
        runs, per_class = runs_table(records), per_class_table(records)
        write_csv_atomic(self.runs_csv, runs)
        write_csv_atomic(self.per_class_csv, per_class)
        return runs, per_class

    def read_per_class(self) -> pd.DataFrame:
        """per_class.csv, labels as text; FileNotFoundError saying how to make it."""
        if not self.path.is_dir():
            raise FileNotFoundError(f"run folder {str(self.path)!r} does not exist")
        if not self.per_class_csv.is_file():
            raise FileNotFoundError(
                f"{str(self.path)!r} has no per_class.csv: run `datasize curve DATA --out {self.path}` first"
            )
        return pd.read_csv(self.per_class_csv, dtype={"label": str}, keep_default_na=False)

    # --- the summary ----------------------------------------------------------------------------

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary_file, summary)

    def read_summary(self) -> dict[str, Any]:
        """curve_summary.json; FileNotFoundError when the folder holds no finished curve."""
        summary = read_json(self.summary_file)
        if summary is None:
            raise FileNotFoundError(
                f"{str(self.path)!r} has no curve_summary.json: run `datasize curve` into it first"
            )
        return summary


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when there is no such file."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def curve_identity(
    prepared: Prepared, config: CurveConfig, model_factory: ModelFactory | None = None
) -> dict[str, Any]:
    """What must match for a run folder to be resumed: data, split, decoding, the whole plan, and the
    user's model factory when one replaces config.train.model (by its qualified name)."""
    identity = {
        "format": CURVE_FORMAT,
        "images": prepared.cache.key,
        "split_fingerprint": prepared.split.fingerprint,
        "curve": config.to_dict(),
        **weights_identity(config.train.backbone),
    }
    if model_factory is not None:
        name = getattr(model_factory, "__qualname__", type(model_factory).__qualname__)
        identity["model_factory"] = f"{getattr(model_factory, '__module__', '')}.{name}"
    return identity


def open_identity(config_file: Path, identity: dict[str, Any], *, what: str) -> None:
    """Write `identity` to `config_file` in a new folder, or check that the folder's matches it.

    ValueError naming the fields that changed: a run folder never mixes results of two configurations.
    """
    folder = config_file.parent
    if config_file.exists():
        stored = json.loads(config_file.read_text(encoding="utf-8"))
        if stored.get("key") != _identity_key(identity):
            changed = _differences(stored.get("identity", {}), jsonable(identity))
            hint = ""
            if (
                "curve.seed_stop" in changed
                and stored.get("identity", {}).get("curve", {}).get("seed_stop") is None
            ):
                # Folders made before --seed-stop 1.0 became the default ran every seed.
                hint = "; it ran every seed: --seed-stop 0 (recipe: seed_stop = 0) resumes it as it was"
            raise ValueError(
                f"{folder} holds {what} with another configuration (changed: {', '.join(changed)}){hint}; "
                "use another --out folder, or delete that one to start over"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json(config_file, {"key": _identity_key(identity), "identity": identity})


def _identity_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [prefix.rstrip(".")] if old != new else []


def runs_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run, in plan order (size, then seed)."""
    table = pd.DataFrame.from_records(
        [{c: r.get(c) for c in RUN_COLUMNS} for r in records], columns=RUN_COLUMNS
    )
    return table.sort_values(["n_train", "seed"], kind="stable").reset_index(drop=True)


def per_class_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (run, class): that class's training images and validation error."""
    rows = [
        {"fraction": r["fraction"], "n_train": r["n_train"], "seed": r["seed"], **c}
        for r in records
        if r.get("status") == "ok"
        for c in r.get("per_class", [])
    ]
    table = pd.DataFrame.from_records(rows, columns=PER_CLASS_COLUMNS)
    return table.sort_values(["n_train", "seed", "label"], kind="stable").reset_index(drop=True)
