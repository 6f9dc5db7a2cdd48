"""Scan configuration: pydantic models, read from YAML, overridden by CLI flags, saved with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

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
    task: Literal["auto", "single", "multilabel"] = Field(
        "auto", description="multilabel: every image has a label set (auto: when the label file gives lists or a separator)"
    )


class EmbeddingConfig(_Section):
    model: str = "lite0"
    weights: Path | None = None
    checkpoint: Path | None = Field(None, description="a checkpoint.pt of `labelfix train` as the backbone (instead of model)")
    image_size: int | Literal["auto"] = Field(
        "auto", description="input side in pixels; auto: about 5x the images' typical short side, up to the model's default"
    )
    flip_average: bool = Field(
        False, description="average each image's embedding with its mirror image's: slightly better label-error "
        "ranking for twice the embedding time"
    )
    batch_size: int | None = Field(None, ge=1, description="images per forward pass; default 64 on a CPU, 512 on CUDA")
    workers: int | None = Field(None, ge=0, description="DataLoader workers; default: one per CPU core (up to 16, "
                                "one core left to the main process above 4)")
    device: str = "auto"
    precision: Literal["auto", "fp32"] = Field(
        "auto", description="auto: the forward pass in fp16 on CUDA and in bf16 on CPUs that compute it natively "
        "(AMX or AVX-512 BF16), else fp32, and the last stages' folds under bf16 autocast where the device computes "
        "bf16; fp32: full precision everywhere (slower)"
    )
    cache_dir: Path | None = None
    engine: Literal["local", "ray"] = Field(
        "local", description="where images are decoded and embedded: local (this process and its DataLoader workers) "
        "or ray (a Ray cluster's CPU tasks and one backbone replica per GPU; needs labelfix[ray])"
    )
    ray_address: str | None = Field(
        None, description="with engine ray: the cluster to join ('auto', or HEAD:6379); default: start a local Ray"
    )


# Below this out-of-fold agreement with the given labels the report says the ranking is less reliable, and method
# auto fine-tunes the last stages. Frozen ImageNet features of 32x32 CIFAR-10N images agree with 76-81% of the
# labels (9% of them wrong); photos of distinct objects (hymenoptera) and the digits example 91% and more.
LOW_AGREEMENT = 0.85


class CrossValidationConfig(_Section):
    folds: int = Field(5, ge=2)
    pred_probs: Path | None = Field(
        None, description="out-of-fold probabilities you made (a .npy (N, K) in dataset order, or a CSV with an "
        "image column and one column per class): used instead of labelfix's cross-validation"
    )
    method: Literal["auto", "embedding", "last_stages", "finetune", "ensemble"] = Field(
        "auto", description="auto: embedding, then last_stages when the embedding head's out-of-fold accuracy (for "
        "label sets: micro-F1) is below auto_below; embedding: a head on frozen embeddings; last_stages: the backbone's last "
        "stages fine-tuned per fold on cached activations; finetune: the whole network fine-tuned per fold; "
        "ensemble: the average of embedding and finetune"
    )
    auto_below: float = Field(
        LOW_AGREEMENT, ge=0, le=1, description="method auto: fine-tune the last stages when the embedding head's out-of-fold "
        "accuracy against the given labels (for label sets: the micro-F1 of its per-class presence) is below this "
        "(the report calls such agreement low)"
    )
    auto_max_images: int = Field(
        80000, ge=0, description="method auto: the most images (counted at 128 px; a 160-px input counts 1.56) "
        "whose last stages are fine-tuned (50,000 at 160 px took 19 minutes on 2 CPU cores; raise it on a GPU); "
        "images of about 32 px are embedded at 128 px when that makes them fit; larger sets keep the embedding head "
        "and the log says so"
    )
    last_stages_epochs: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="epochs per fold for method last_stages; auto: 3, or 2 above 20,000 images"
    )
    last_stages_runs: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="networks trained per fold for method last_stages, their probabilities averaged; auto: "
        "as many as fit the work of one run on about 12,800 small images (20,000 at 128 px), at most 4: 1 for more "
        "than 6,400 images at 160 px, 2 for 4,267-6,400, 3 for 3,201-4,266, 4 for 3,200 or fewer"
    )
    last_stages_lr: float = Field(1e-3, gt=0, description="peak learning rate (AdamW, one-cycle) for method last_stages")
    peak_weight: float = Field(
        0.0, ge=0, description="label sets, method last_stages: a class's logit is its mean score over the final "
        "feature map plus this times its highest score there (0: the mean alone, as for single labels)"
    )
    last_stages_split: str = Field(
        "auto", description="for method last_stages: the module after which the network is fine-tuned (e.g. "
        "blocks.5); auto: the end of the last but one feature stage, or for up to about 12,800 small images (work "
        "20,000 at 128 px) the block before it where that keeps the resolution (lite0: blocks.3 instead of blocks.4): "
        "one stage more fine-tuned, for twice the folds' time"
    )
    finetune_epochs: int = Field(3, ge=1, description="epochs per fold for method finetune / ensemble")
    finetune_lr: float = Field(1e-2, gt=0, description="peak learning rate of the head per fold (no lr finder per fold)")
    head: Literal["logistic", "mlp"] = Field("logistic", description="classifier trained on each fold's embeddings")
    regularization: float = Field(10.0, gt=0, description="inverse L2 strength of the logistic-regression head")
    neighbor_weight: float = Field(
        0.3, ge=0, le=1, description="share of the nearest neighbours' label vote in the out-of-fold probabilities "
        "(0: the head's alone)"
    )


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


class TrainModelConfig(_Section):
    name: str = Field("lite0", description="'lite0' (embedded, offline), a timm model name, or the architecture of --weights")
    weights: Path | None = Field(None, description="local weights file (.pth/.safetensors) to start from")
    image_size: int | None = Field(None, ge=8, description="input side in pixels; default: the model's own")


class TrainDataConfig(_Section):
    batch_size: int | None = Field(None, ge=1, description="images per training step; default 32 on a CPU, 128 on "
                                   "CUDA (the lr finder picks the learning rate for it; a fixed --lr is not rescaled)")
    workers: int | None = Field(None, ge=0, description="DataLoader workers; default: one per CPU core (up to 16, "
                                "one core left to the main process above 4)")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="stratified validation share when the dataset has no val split")
    split_file: Path | None = Field(None, description="split.csv of an earlier run: its images keep their split")
    subset_fraction: float = Field(1.0, gt=0, le=1, description="train on a stratified, nested share of the training images")
    balance: bool = Field(False, description="weighted sampler: every class drawn equally often")
    extra: list[Path] = Field([], description="more labelled images (label files or folders, e.g. pseudo-labels), "
                              "for training only: never validation")


class ScheduleConfig(_Section):
    epochs: int = Field(5, ge=1, description="all epochs, the frozen ones included")
    freeze_epochs: int = Field(1, ge=0, description="first epochs that train the new head only")
    lr: float | None = Field(None, gt=0, description="peak learning rate of the head; none: the lr finder's suggestion")
    backbone_lr_factor: float = Field(0.1, gt=0, le=1, description="backbone lr = lr x this once unfrozen (discriminative)")
    warmup_fraction: float = Field(0.25, ge=0, lt=1, description="share of each phase's steps spent warming up")
    min_lr: float | None = Field(None, ge=0, description="final learning rate; none: lr / 25 / 10^4 (one-cycle), 0 (cosine)")
    scheduler: Literal["one_cycle", "cosine", "plateau"] = "one_cycle"
    plateau_patience: int = Field(1, ge=0)
    plateau_factor: float = Field(0.1, gt=0, lt=1)
    accumulate_steps: int = Field(1, ge=1, description="batches whose gradients are summed per optimizer step")


class OptimizerConfig(_Section):
    name: str = Field("adamw", description="any timm optimizer: adamw, sgd, radam, lookahead_adamw, lamb, ...")
    weight_decay: float = Field(0.01, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="for SGD-like optimizers")


class RegularizationConfig(_Section):
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    mixup: float = Field(0.0, ge=0, description="MixUp alpha (0: off)")
    cutmix: float = Field(0.0, ge=0, description="CutMix alpha (0: off)")
    ema_decay: float = Field(0.0, ge=0, lt=1, description="exponential moving average of the weights (0: off), e.g. 0.999")


AreaShare = Annotated[float, Field(gt=0, le=1)]


class AugmentConfig(_Section):
    crop_scale: tuple[AreaShare, AreaShare] = Field((0.35, 1.0),
                                                    description="random resized crop: share of the image area kept")
    hflip: float = Field(0.5, ge=0, le=1)
    vflip: float = Field(0.0, ge=0, le=1)
    rotation: float = Field(0.0, ge=0, le=180, description="random rotation up to this many degrees")
    perspective: float = Field(0.0, ge=0, le=1, description="probability of a random perspective warp")
    color_jitter: float = Field(0.0, ge=0, description="brightness / contrast / saturation jitter strength")
    blur: float = Field(0.0, ge=0, le=1, description="probability of a Gaussian blur")
    rand_augment: str | None = Field(None, description="timm RandAugment spec, e.g. rand-m9-mstd0.5")
    random_erasing: float = Field(0.0, ge=0, le=1)


class EvaluationConfig(_Section):
    tta: bool = Field(False, description="average predictions over flips and zoomed crops")


class TrainConfig(_Section):
    seed: int = 0
    out: Path | None = None
    dataset: DatasetConfig = DatasetConfig()
    model: TrainModelConfig = TrainModelConfig()
    data: TrainDataConfig = TrainDataConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    regularization: RegularizationConfig = RegularizationConfig()
    augment: AugmentConfig = AugmentConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 (or fp16) on CUDA, bf16 on CPUs that compute it natively (AMX, AVX-512 BF16), "
        "else fp32")
    device: str = "auto"
    deterministic: bool = Field(False, description="deterministic GPU kernels (slower); CPU runs are deterministic anyway")
    tensorboard: bool = False


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested sections as dotted keys: {"a": {"b": 1}} → {"a.b": 1}."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_config(path: Path | None, overrides: dict[str, Any] | None = None,
                flags: dict[str, str] | None = None) -> ScanConfig:
    """Config from a YAML file (optional) with `overrides` {"section.key": value} applied; None values skipped.
    An invalid value is named by its command-line flag where `flags` {"section.key": "--flag"} gives one."""
    return _load(ScanConfig, path, overrides, flags)


def load_train_config(path: Path | None, overrides: dict[str, Any] | None = None,
                      flags: dict[str, str] | None = None) -> TrainConfig:
    """Training config from a YAML file (optional) with `overrides` {"section.key": value}; None values skipped;
    `flags` as for `load_config`."""
    return _load(TrainConfig, path, overrides, flags)


def _load(model: type[BaseModel], path: Path | None, overrides: dict[str, Any] | None,
          flags: dict[str, str] | None = None) -> Any:
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
        target[key] = str(value) if isinstance(value, Path) else value
    try:
        return model.model_validate(data)
    except ValidationError as error:
        where = f"{path}: " if path else ""
        named = flags or {}
        problems = "; ".join(f"{named.get('.'.join(map(str, e['loc'])), '.'.join(map(str, e['loc'])))}: {e['msg']}"
                             for e in error.errors())
        raise ConfigError(f"{where}invalid configuration ({problems})") from None
