"""Two processes under torchrun on the CPU (Gloo): one run folder, written once, with consistent metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

from helpers import make_color_folders


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists() and shutil.which("torchrun") is None:
        pytest.skip("torchrun not found")
    make_color_folders(tmp_path / "colors", per_class=8)
    torch.manual_seed(0)
    torch.save(timm.create_model("test_efficientnet").state_dict(), tmp_path / "tiny.pth")
    (tmp_path / "train.yaml").write_text("model:\n  name: test_efficientnet\n  image_size: 32\ndata:\n  workers: 0\n"
                                         "  batch_size: 4\nschedule:\n  epochs: 2\n  lr: 0.01\n")
    source = str(Path(__file__).resolve().parents[1] / "src")
    environment = {**os.environ, "PYTHONPATH": source, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [str(torchrun if torchrun.exists() else "torchrun"), "--nproc_per_node=2", "-m", "labelfix", "train",
         str(tmp_path / "colors"), "--config", str(tmp_path / "train.yaml"), "--weights", str(tmp_path / "tiny.pth"),
         "--out", str(tmp_path / "run"), "--no-progress"],
        env=environment, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["processes"] == 2
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    best = max((row.split(",") for row in rows[1:]), key=lambda cells: (float(cells[4]), -float(cells[3])))
    assert evaluation["accuracy"] == pytest.approx(float(best[4]), abs=1e-5)
