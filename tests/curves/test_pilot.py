"""`--epochs auto`: the pilot's rule, its runs in the run folder, their reuse by the curve, resume."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

import datasize.curves.executors as executors
from datasize.cli import main
from datasize.curves.folder import RunFolder
from datasize.curves.pilot import PilotLength, choose_epochs, next_length, pilot_length, pilot_note
from datasize.curves.plan import CurveConfig
from datasize.curves.runner import learning_curve
from datasize.training.loop import TrainConfig
from datasize.training.preparation import prepare
from tests.conftest import stripes_folders


def at(epochs: int, errors: tuple[float, ...], limited: bool = False, n_valid: int = 400) -> PilotLength:
    return PilotLength(epochs, errors, limited, n_valid)


# --- the rule ---------------------------------------------------------------------------------------


def test_the_first_length_is_always_checked_by_a_doubling() -> None:
    assert next_length([at(4, (0.10, 0.10))], max_epochs=32) == 8


def test_a_first_length_at_zero_is_chosen_without_a_doubling() -> None:
    # 0 and 1 of 400 validation images wrong: no longer training can show a lower error (issue #25)
    choice = next_length([at(4, (0.0, 0.0025))], max_epochs=32)
    assert choice.epochs == 4 and [p.epochs for p in choice.lengths] == [4]
    assert "within one of 400 validation images of zero" in choice.reason
    assert next_length([at(4, (0.0, 0.005))], max_epochs=32) == 8  # 2 images wrong: doubled


def test_a_doubling_that_pays_beyond_noise_is_followed_by_another() -> None:
    # 20% -> 10% on 400 images: far beyond two standard errors (~2.5 points)
    assert next_length([at(4, (0.20, 0.21)), at(8, (0.10, 0.11))], max_epochs=32) == 16


def test_a_doubling_within_noise_chooses_the_shorter_length_when_it_was_not_limited() -> None:
    choice = next_length([at(8, (0.10, 0.11)), at(16, (0.10, 0.105))], max_epochs=32)
    assert choice.epochs == 8
    assert "within the noise" in choice.reason and [p.epochs for p in choice.lengths] == [8, 16]


def test_a_doubling_within_noise_chooses_the_longer_length_when_the_shorter_was_too_short() -> None:
    choice = next_length([at(4, (0.10, 0.11), limited=True), at(8, (0.10, 0.10))], max_epochs=32)
    assert choice.epochs == 8 and "4 epochs were diagnosed too_few_epochs" in choice.reason


def test_a_length_still_diagnosed_too_short_is_doubled_even_when_its_error_held() -> None:
    assert next_length([at(4, (0.10, 0.10)), at(8, (0.10, 0.10), limited=True)], max_epochs=32) == 16


def test_more_training_that_hurts_beyond_noise_chooses_the_shorter_length() -> None:
    choice = next_length([at(8, (0.05, 0.05)), at(16, (0.15, 0.16))], max_epochs=32)
    assert choice.epochs == 8 and "more training hurt" in choice.reason


def test_the_cap_stops_the_pilot_and_says_so() -> None:
    choice = next_length(
        [at(8, (0.30, 0.30), limited=True), at(16, (0.20, 0.20), limited=True)], max_epochs=16
    )
    assert choice.epochs == 16 and "--max-epochs" in choice.reason and "still limited" in choice.reason


def test_the_noise_counts_the_seeds_spread_not_only_the_binomial() -> None:
    calm, spread = at(8, (0.10, 0.10)), at(8, (0.05, 0.15))
    assert spread.se > calm.se
    # the same 5-point fall pays when the seeds agree, not when they scatter by 10 points
    assert next_length([at(4, (0.15, 0.15)), calm], max_epochs=32) == 16
    assert next_length([at(4, (0.15, 0.15)), spread], max_epochs=32).epochs == 4


def test_a_length_with_a_failed_run_counts_as_limited() -> None:
    ok = {"status": "ok", "error_rate": 0.1, "n_valid": 100, "diagnosis_detail": {"kinds": ["ok"]}}
    failed = {"status": "failed", "message": "boom"}
    assert pilot_length(4, [ok, ok]).limited is False
    assert pilot_length(4, [ok, failed]).limited is True
    short = {**ok, "diagnosis_detail": {"kinds": ["overfitting", "too_few_epochs"]}}
    assert pilot_length(4, [ok, short]).limited is True


# --- the pilot in a run folder ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare(stripes_folders(tmp_path_factory.mktemp("pilot-data"), 40), size=16, jobs=1)


def auto(**kw) -> CurveConfig:
    train = TrainConfig(epochs=1, batch_size=16)
    return CurveConfig(**{"fractions": (0.25, 0.5, 1.0), "seeds": 3, "train": train, "auto_epochs": True,
                          "max_epochs": 4, **kw})  # fmt: skip


def test_the_pilot_writes_its_runs_and_choice_and_a_resume_trains_nothing(prepared, tmp_path, monkeypatch):
    folder = RunFolder(tmp_path)
    choice = choose_epochs(prepared, auto(), lr=5e-3, folder=folder)
    tried = [p.epochs for p in choice.lengths]
    assert tried[0] == 1 and choice.epochs in tried and set(tried) <= {1, 2, 4}
    for epochs in tried:
        for seed in (0, 1):  # two seeds a length, the curve's first two
            assert folder.pilot_run(epochs, seed)["n_train"] == len(prepared.data.train)
    assert folder.pilot_run(tried[0], 2) is None
    assert folder.pilot_choice()["epochs"] == choice.epochs
    monkeypatch.setattr(executors, "run_one", lambda task: pytest.fail("a pilot run was trained again"))
    again = choose_epochs(prepared, auto(), lr=5e-3, folder=folder)
    assert again == choice


def test_the_curve_reuses_the_pilots_runs_at_the_chosen_length(prepared, tmp_path) -> None:
    result = learning_curve(prepared, config=auto(), lr=5e-3, folder=tmp_path / "auto")
    chosen = result.epochs.epochs
    assert result.config.train.epochs == chosen and result.reused == 2
    fixed = CurveConfig(fractions=(0.25, 0.5, 1.0), seeds=3, train=TrainConfig(epochs=chosen, batch_size=16))
    plain = learning_curve(prepared, config=fixed, lr=5e-3, folder=tmp_path / "fixed")
    columns = ["n_train", "seed", "error_rate", "valid_loss", "train_error", "steps", "diagnosis"]
    assert result.runs[columns].equals(plain.runs[columns])  # the reused runs are the runs themselves
    pilot = json.loads((tmp_path / "auto" / "pilot" / f"e{chosen:04d}-s1.json").read_text())
    largest = result.runs[(result.runs["n_train"] == pilot["n_train"]) & (result.runs["seed"] == 1)]
    assert largest["error_rate"].item() == pilot["error_rate"]


def test_a_pilot_that_chooses_otherwise_on_resume_is_a_changed_configuration(prepared, tmp_path) -> None:
    folder = RunFolder(tmp_path / "run")
    first = learning_curve(prepared, config=auto(), lr=5e-3, folder=folder.path)
    # Another machine's arithmetic could move the pilot's errors: here its records are made to say
    # that every length is the same (the pilot then keeps 1 epoch) or that each is too short (4).
    forced = 1 if first.epochs.epochs != 1 else 4
    for path in folder.pilot_dir.glob("e*-s*.json"):
        record = json.loads(path.read_text())
        kinds = ["ok"] if forced == 1 else ["too_few_epochs"]
        path.write_text(json.dumps({**record, "error_rate": 0.1, "diagnosis_detail": {"kinds": kinds}}))
    with pytest.raises(ValueError, match=r"another configuration \(changed: curve\.train\.epochs\)"):
        learning_curve(prepared, config=auto(), lr=5e-3, folder=folder.path)


def test_max_epochs_below_the_first_length_is_refused() -> None:
    with pytest.raises(ValueError, match=r"max_epochs=2 must be a whole number of at least .* epochs=4"):
        CurveConfig(auto_epochs=True, max_epochs=2, train=TrainConfig(epochs=4))


# --- the command line -------------------------------------------------------------------------------


def test_curve_epochs_auto_prints_the_pilot_and_the_length_it_chose(tmp_path) -> None:
    data = stripes_folders(tmp_path / "data", 24)
    args = ["curve", str(data), "--fractions", "1/2,1", "--seeds", "2", "--size", "16", "--batch-size", "16",
            "--max-epochs", "8", "--epochs", "auto", "-o", str(tmp_path / "out")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("pilot: 4 epochs, n_train=") for line in lines)
    assert any(
        line.startswith("training length: ") and "chosen by the pilot (4 -> " in line for line in lines
    )
    summary = json.loads((tmp_path / "out" / "curve_summary.json").read_text())
    assert summary["epochs"]["source"] == "pilot" and summary["epochs"]["epochs"] in (4, 8)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "'0' must be at least 1"), ("long", "'long' is neither a whole number nor 'auto'")],
)
def test_a_bad_epochs_value_is_a_usage_error(tmp_path, value: str, message: str) -> None:
    result = CliRunner().invoke(main, ["curve", str(tmp_path), "--epochs", value])
    assert result.exit_code == 2 and message in result.output


# --- stronger signals: paired changes, the training error, the cap in words (#24) ----------------------


def _wrong(count: int, start: int = 0) -> frozenset[str]:
    return frozenset(f"v{i:03d}.png" for i in range(start, start + count))


def test_a_doubling_that_fixes_images_pays_though_two_unpaired_rates_would_call_it_noise() -> None:
    # 200 validation images, 25% -> 21%: unpaired, 2 SE of the change is about 8 points; paired, the
    # longer runs fixed 10 images and broke 2 of the same 200, with each seed.
    before = PilotLength(4, (0.25, 0.25), False, 200, wrong=(_wrong(50), _wrong(50)))
    after = PilotLength(
        8, (0.21, 0.21), False, 200, wrong=(_wrong(42, 10) - _wrong(2, 50) | _wrong(2, 100),) * 2
    )
    assert math.hypot(before.se, after.se) * 2 > 0.04  # what the unpaired rule would have allowed
    assert next_length([before, after], max_epochs=32) == 16
    unpaired = [PilotLength(4, (0.25, 0.25), False, 200), PilotLength(8, (0.21, 0.21), False, 200)]
    assert next_length(unpaired, max_epochs=32).epochs == 4  # within its noise


def test_runs_that_have_not_fit_their_own_training_images_go_on_though_validation_is_small() -> None:
    ok = {"status": "ok", "error_rate": 0.25, "n_valid": 200, "diagnosis_detail": {"kinds": ["ok"]}}
    short = pilot_length(4, [{**ok, "train_error": 0.24}, {**ok, "train_error": 0.22}])
    assert short.limited and short.underfit
    longer = pilot_length(8, [{**ok, "error_rate": 0.24, "train_error": 0.02}] * 2)
    assert not longer.limited
    # 25% -> 24% is within the noise of 200 images, but 4 epochs had not fit the training images:
    # the pilot keeps the longer length, and says why.
    choice = next_length([short, longer], max_epochs=32)
    assert choice.epochs == 8
    assert "under-trained: 23.0% of their own training images wrong" in choice.reason
    assert next_length([short], max_epochs=32) == 8


def test_a_well_fit_model_is_not_called_under_trained() -> None:
    ok = {"status": "ok", "error_rate": 0.02, "n_valid": 359, "diagnosis_detail": {"kinds": ["ok"]}}
    assert not pilot_length(4, [{**ok, "train_error": 0.01}] * 2).limited  # under the 5% floor
    assert not pilot_length(4, [{**ok, "error_rate": 0.2, "train_error": 0.06}] * 2).limited  # < half


def test_a_pilot_stopped_at_its_cap_while_training_paid_says_the_curve_is_training_limited() -> None:
    seen = [at(8, (0.30, 0.30)), at(16, (0.20, 0.20))]
    choice = next_length(seen, max_epochs=16)
    assert choice.capped and choice.to_dict()["capped"] is True
    note = pilot_note(choice)
    assert note.startswith("The pilot stopped at the cap of 16 epochs while longer training still paid")
    assert "limited by training, not by data; raise --max-epochs" in note
    calm = next_length([at(8, (0.10, 0.10)), at(16, (0.10, 0.10))], max_epochs=16)
    assert not calm.capped and pilot_note(calm) is None


def test_the_start_line_tells_the_pilots_runs_from_an_earlier_commands():
    from datasize.cli.terminal import start_line

    assert start_line(0, 15, {"resumed": 0, "from_pilot": 0}) == "15 runs to train"
    first = start_line(2, 15, {"resumed": 0, "from_pilot": 2})
    assert first == "15 runs: 2 trained by the pilot; at most 13 to train"  # not "resuming" on a first run
    again = start_line(8, 15, {"resumed": 6, "from_pilot": 2})
    said = "15 runs: 6 already finished by an earlier command (resuming); 2 trained by the pilot"
    assert again == f"{said}; at most 7 to train"


def test_a_run_line_says_how_many_runs_the_seed_stop_skipped():
    from datasize.cli.terminal import run_progress

    said = []
    record = {"n_train": 100, "seed": 2, "error_rate": 0.1, "diagnosis": "ok"}
    with run_progress(quiet=False, echo=said.append) as on_run:
        on_run(0, 15, {"start": {"resumed": 0, "from_pilot": 0}})
        on_run(10, 15, record)
        on_run(11, 11, record)
    assert said[1].startswith("run 10/15: ") and said[2].startswith(
        "run 11/11 (4 skipped: their seeds agreed): "
    )
