"""Compare training runs: the config keys that differ between them, and their final and best metrics."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from labelfix.config import flatten
from labelfix.errors import ConfigError


def read_run(run_dir: Path) -> dict:
    """A run folder's flattened config, metrics rows and evaluation."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "metrics.csv").is_file():
        raise ConfigError(f"{run_dir}: not a training run folder (needs config.yaml and metrics.csv)")
    config = flatten(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as handle:
        metrics = list(csv.DictReader(handle))
    evaluation_file = run_dir / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text(encoding="utf-8")) if evaluation_file.is_file() else {}
    return {"run": run_dir.name, "config": config, "metrics": metrics, "evaluation": evaluation}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def comparison(runs: list[dict]) -> tuple[list[str], list[dict]]:
    """Columns and one row per run: run, the config keys whose values differ (out excluded), epochs, final
    and best validation accuracy, final validation loss, evaluation accuracy."""
    keys = sorted({key for run in runs for key in run["config"]} - {"out"})
    differing = [k for k in keys if len({json.dumps(run["config"].get(k), default=str) for run in runs}) > 1]
    rows = []
    for run in runs:
        accuracies = [a for a in (_number(row.get("val_accuracy")) for row in run["metrics"]) if a is not None]
        final = run["metrics"][-1] if run["metrics"] else {}
        rows.append({
            "run": run["run"], **{k: run["config"].get(k) for k in differing},
            "epochs": len(run["metrics"]),
            "final_val_accuracy": accuracies[-1] if accuracies else None,
            "best_val_accuracy": max(accuracies) if accuracies else None,
            "final_val_loss": _number(final.get("val_loss")),
            "eval_accuracy": run["evaluation"].get("accuracy"),
        })
    columns = ["run", *differing, "epochs", "final_val_accuracy", "best_val_accuracy", "final_val_loss", "eval_accuracy"]
    return columns, rows
