"""Scan configuration: pydantic models, read from YAML, overridden by CLI flags, saved with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from labelfix.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DatasetConfig(_Section):
    format: Literal["auto", "folders", "jsonl", "csv", "regex"] = "auto"
    path_column: str = "image"
    label_column: str = "label"
    split_column: str | None = None
    label_separator: str | None = None
    label_regex: str | None = None


class EmbeddingConfig(_Section):
    model: str = "lite0"
    weights: Path | None = None
    image_size: int | Literal["auto"] = Field(
        "auto", description="input side in pixels; auto: about 5x the images' typical short side, up to the model's default"
    )
    batch_size: int = Field(64, ge=1)
    workers: int | None = Field(None, ge=0, description="DataLoader workers; default: up to 8 CPU cores")
    device: str = "auto"
    cache_dir: Path | None = None


class CrossValidationConfig(_Section):
    folds: int = Field(5, ge=2)
    head: Literal["logistic", "mlp"] = Field("logistic", description="classifier trained on each fold's embeddings")
    regularization: float = Field(10.0, gt=0, description="inverse L2 strength of the logistic-regression head")


class LabelIssueConfig(_Section):
    # prune_by_class measured best on the digits example (recall 0.86, precision 0.85 vs 0.79 / 0.82)
    filter_by: Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given"] = (
        "prune_by_class"
    )


class Check(_Section):
    """An issue type: on or off, and the threshold on its score (or distance) that flags an image."""

    enabled: bool = True
    threshold: float


def _check(name: str, threshold: float, description: str) -> type[Check]:
    """A Check whose threshold defaults to `threshold`, so a YAML file can set `enabled` alone."""
    return create_model(f"{name}Check", __base__=Check, threshold=(float, Field(threshold, description=description)))


ExactDuplicateCheck = _check("ExactDuplicate", 0.5, "same decoded pixels (the threshold is unused)")
NearDuplicateCheck = _check("NearDuplicate", 0.25, "cosine distance between mean-centred embeddings below which images are near duplicates")
OutlierCheck = _check("Outlier", 3.0, "robust z-score (kNN distance or backbone prediction entropy) above which an image is an outlier")
DarkCheck = _check("Dark", 0.15, "99th-percentile brightness below this")
LightCheck = _check("Light", 0.08, "1 - 1st-percentile brightness below this")
BlurryCheck = _check("Blurry", 0.35, "Laplacian standard deviation / 0.05 below this")
LowInformationCheck = _check("LowInformation", 0.2, "grayscale entropy / 8 bits below this")
GrayscaleCheck = _check("Grayscale", 0.05, "channel difference / 0.05 below this")
OddSizeCheck = _check("OddSize", 0.1, "side relative to the median side (or its inverse) below this")
OddAspectRatioCheck = _check("OddAspectRatio", 0.3, "short side / long side below this")


class InvalidCheck(_Section):
    enabled: bool = True
    max_pixels: int = Field(50_000_000, ge=1, description="more pixels than this is 'huge'")
    min_side: int = Field(16, ge=1, description="a side shorter than this is 'tiny'")
    max_side: int = Field(20_000, ge=1, description="a side longer than this is 'extreme'")


class ChecksConfig(_Section):
    """Image-health, duplicate and outlier checks. Thresholds apply to each type's score unless noted."""

    enabled: bool = Field(True, description="false: label issues only (no image statistics, duplicates, outliers)")
    invalid: InvalidCheck = InvalidCheck()
    exact_duplicate: ExactDuplicateCheck = ExactDuplicateCheck()
    near_duplicate: NearDuplicateCheck = NearDuplicateCheck()
    outlier: OutlierCheck = OutlierCheck()
    dark: DarkCheck = DarkCheck()
    light: LightCheck = LightCheck()
    blurry: BlurryCheck = BlurryCheck()
    low_information: LowInformationCheck = LowInformationCheck()
    grayscale: GrayscaleCheck = GrayscaleCheck()
    odd_size: OddSizeCheck = OddSizeCheck()
    odd_aspect_ratio: OddAspectRatioCheck = OddAspectRatioCheck()
    max_prevalence: float = Field(
        0.5, gt=0, le=1, description="a health issue found in more than this share of images is the dataset's norm"
    )


class OutputConfig(_Section):
    out: Path | None = None
    drop_flagged: bool = False
    report_images_per_pair: int = Field(48, ge=1)


class ScanConfig(_Section):
    seed: int = 0
    dataset: DatasetConfig = DatasetConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    crossval: CrossValidationConfig = CrossValidationConfig()
    label_issues: LabelIssueConfig = LabelIssueConfig()
    checks: ChecksConfig = ChecksConfig()
    output: OutputConfig = OutputConfig()


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> ScanConfig:
    """Config from a YAML file (optional) with `overrides` {"section.key": value} applied; None values skipped."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the config must be a mapping of sections (dataset, embedding, ...)")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *sections, key = dotted.split(".")
        target = data
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    try:
        return ScanConfig.model_validate(data)
    except ValidationError as error:
        where = f"{path}: " if path else ""
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{where}invalid configuration ({problems})") from None
