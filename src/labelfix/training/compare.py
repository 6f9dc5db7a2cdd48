"""Compare training runs: the config keys that differ between them, and their final and best metrics; beside
them, evaluation folders (`labelfix evaluate --out`), an ensemble's with its members and vote."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from labelfix.config import flatten
from labelfix.errors import ConfigError


def read_run(run_dir: Path) -> dict:
    """A training run folder's flattened config, metrics rows and evaluation; or an evaluation folder's evaluation
    (config None, no metrics)."""
    run_dir = Path(run_dir)
    evaluation_file = run_dir / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text(encoding="utf-8")) if evaluation_file.is_file() else {}
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "metrics.csv").is_file():
        if evaluation:
            return {"run": run_dir.name, "config": None, "metrics": [], "evaluation": evaluation}
        raise ConfigError(f"{run_dir}: neither a training run folder (config.yaml and metrics.csv) nor an "
                          "evaluation folder (evaluation.json of `labelfix evaluate --out`)")
    config = flatten(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as handle:
        metrics = list(csv.DictReader(handle))
    return {"run": run_dir.name, "config": config, "metrics": metrics, "evaluation": evaluation}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _members(evaluation: dict) -> str | None:
    """An ensemble's members (their run folders' names, each one's accuracy) and its vote."""
    if "members" not in evaluation:
        return None
    names = [f"{Path(m['checkpoint']).parent.name} {m.get('accuracy', m.get('map')):.4f}" for m in evaluation["members"]]
    return f"{evaluation.get('vote', 'soft')} vote of " + ", ".join(names)


def comparison(runs: list[dict]) -> tuple[list[str], list[dict]]:
    """Columns and one row per run: run, the config keys whose values differ between training runs (out
    excluded), epochs, final and best validation accuracy, final validation loss, evaluation accuracy; and, when an
    ensemble's evaluation is among them, its members."""
    configs = [run["config"] for run in runs if run["config"] is not None]
    keys = sorted({key for config in configs for key in config} - {"out"})
    differing = [k for k in keys if len({json.dumps(config.get(k), default=str) for config in configs}) > 1]
    ensembles = any("members" in run["evaluation"] for run in runs)
    rows = []
    for run in runs:
        accuracies = [a for a in (_number(row.get("val_accuracy")) for row in run["metrics"]) if a is not None]
        final = run["metrics"][-1] if run["metrics"] else {}
        rows.append({
            "run": run["run"], **{k: (run["config"] or {}).get(k) for k in differing},
            **({"members": _members(run["evaluation"])} if ensembles else {}),
            "epochs": len(run["metrics"]) if run["config"] is not None else None,
            "final_val_accuracy": accuracies[-1] if accuracies else None,
            "best_val_accuracy": max(accuracies) if accuracies else None,
            "final_val_loss": _number(final.get("val_loss")),
            "eval_accuracy": run["evaluation"].get("accuracy", run["evaluation"].get("map")),
        })
    columns = ["run", *differing, *(["members"] if ensembles else []), "epochs", "final_val_accuracy",
               "best_val_accuracy", "final_val_loss", "eval_accuracy"]
    return columns, rows
