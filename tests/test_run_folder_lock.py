"""One command per run folder (issue #25): a lock that names its holder and that a crashed holder does
not leave stuck; every output file written with the user's umask."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from datasize.cli import main
from datasize.errors import FolderBusy
from datasize.io import LOCK_NAME, folder_lock, write_text_atomic
from tests.conftest import ROOT, stripes_folders

HOLD = (
    "import sys, time\n"
    "from datasize.io import folder_lock\n"
    "with folder_lock(sys.argv[1], command='datasize curve data --out ' + sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


def holder(folder):
    """Another process holding `folder`'s lock, started and waited for."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout.readline().strip() == "held"
    return process


def stop(process) -> None:
    process.kill()
    process.wait()
    process.stdout.close()


def test_a_second_command_on_a_held_folder_is_refused_with_the_holders_pid_and_command(tmp_path):
    process = holder(tmp_path / "run")
    try:
        busy = pytest.raises(FolderBusy, match=rf"pid {process.pid}: datasize curve data --out ")
        with busy, folder_lock(tmp_path / "run"):
            pass
        data = stripes_folders(tmp_path / "data", 8)
        args = ["curve", str(data), "--out", str(tmp_path / "run"), "--fractions", "0.5,1", "--epochs", "1"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2
        assert f"is in use by another datasize command (pid {process.pid}" in result.output
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_NAME]  # nothing else written
    finally:
        stop(process)


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    process = holder(tmp_path / "run")
    os.kill(process.pid, signal.SIGKILL)
    stop(process)
    assert (tmp_path / "run" / LOCK_NAME).exists()  # the file stays; its flock died with the holder
    with folder_lock(tmp_path / "run", command="mine") as path:
        assert path.read_text().splitlines() == [str(os.getpid()), "mine"]
    assert not (tmp_path / "run" / LOCK_NAME).exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_are_written_with_the_users_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "report.html", "<p>shared</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == mode


def test_ctrl_c_before_any_run_finished_does_not_claim_saved_runs(tmp_path):
    from datasize.cli.terminal import interrupted_line

    said = interrupted_line(tmp_path / "run")
    assert said.startswith("Interrupted before any run finished: nothing trained is saved yet")
    assert "Finished runs are saved" not in said
    write_text_atomic(tmp_path / "run" / "runs" / "n0000010-s0.json", "{}")
    assert interrupted_line(tmp_path / "run").startswith("Interrupted. 1 finished run(s) saved in ")
