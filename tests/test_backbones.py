import pytest
import timm
import torch

from labelfix.errors import ModelError
from labelfix.models.backbones import load_backbone, state_dict_hash


def test_embedded_default_loads_offline_with_its_own_preprocessing():
    backbone = load_backbone("lite0")
    assert backbone.architecture == "tf_efficientnet_lite0" and backbone.feature_dim == 1280
    assert backbone.data_config["mean"] == (0.5, 0.5, 0.5) and backbone.data_config["input_size"] == (3, 224, 224)
    assert backbone.has_classifier
    with torch.inference_mode():
        embeddings, entropy = backbone.embed(torch.zeros(2, 3, 224, 224))
    assert embeddings.shape == (2, 1280) and entropy.shape == (2,) and ((entropy >= 0) & (entropy <= 1)).all()


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
    assert backbone.has_classifier and backbone.feature_dim == backbone.model.num_features


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(timm.create_model("test_vit", pretrained=False).state_dict(), path)
    with pytest.raises(ModelError, match="do not fit the model"):
        load_backbone("test_efficientnet", weights=path)
    with pytest.raises(ModelError, match="weights file not found"):
        load_backbone("test_efficientnet", weights=tmp_path / "missing.pth")
