"""Fine-tuning the backbone's last stages per fold on cached activations (timm's tiny models, random weights)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

import labelfix.crossval.last_stages as last_stages
from labelfix.backbones import load_backbone, with_input_size
from labelfix.crossval.folds import assign_folds
from labelfix.crossval.last_stages import (
    InFloat32,
    PeakAndMeanLogits,
    _reproduces,
    fit_top,
    fold_batch_norms,
    last_stages_out_of_fold_probabilities,
    stored_activations,
    strided_depthwise_in_fp32,
    top_network,
    training_dtype,
)
from labelfix.devices import reduced_precision
from labelfix.errors import ModelError


@pytest.fixture(scope="module")
def tiny_backbone(tiny_weights):
    return replace(with_input_size(load_backbone("test_efficientnet", tiny_weights), 32), flip_average=True)


def _activations(backbone, images: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return backbone.embed(images, with_activations=True).activations.numpy().astype(np.float16)


def _two_kinds_of_images(n_per_class: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Noisy reddish images (class 0) and bluish ones (class 1)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(2 * n_per_class, 3, 32, 32, generator=generator) * 0.5
    images[:n_per_class, 0] += 0.5
    images[n_per_class:, 2] += 0.5
    return images, np.repeat([0, 1], n_per_class)


def test_the_top_network_continues_the_backbone_from_its_split_point(tiny_backbone):
    images = torch.rand(3, 3, 32, 32)
    network = top_network(tiny_backbone, 5, seed=0)
    assert isinstance(network.conv_stem, torch.nn.Identity) and network.get_classifier().out_features == 5
    assert tiny_backbone.split_module == "blocks.3" and isinstance(network.blocks[3], torch.nn.Identity)
    assert not isinstance(network.blocks[4], torch.nn.Identity)
    with torch.inference_mode():
        features = network.forward_features(torch.from_numpy(_activations(tiny_backbone, images)[:, 0]).float())
        expected = tiny_backbone.model.forward_features(images)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-4)


def test_the_top_network_folds_its_batch_norms_and_trains_no_depthwise_filter(tiny_backbone):
    network = top_network(tiny_backbone, 2, seed=0)
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in network.modules())
    depthwise = {name: module.weight.detach().clone() for name, module in network.named_modules()
                 if isinstance(module, torch.nn.Conv2d) and module.groups > 1}
    pointwise = network.conv_head.weight.detach().clone()
    assert depthwise and pointwise.shape[2:] == (1, 1)

    images, labels = _two_kinds_of_images(8)
    fit_top(network, _activations(tiny_backbone, images), labels, torch.Generator().manual_seed(0), epochs=2,
            learning_rate=1e-2, weight_decay=0.05, batch_size=8, label_smoothing=0.1)
    assert all(torch.equal(network.get_submodule(name).weight, weight) for name, weight in depthwise.items())
    assert not torch.equal(network.conv_head.weight, pointwise)


def test_training_on_some_rows_equals_training_on_a_copy_of_them(tiny_backbone):
    images, labels = _two_kinds_of_images(8)
    activations, rows = _activations(tiny_backbone, images), np.array([0, 2, 3, 5, 8, 9, 12, 15])
    networks = [top_network(tiny_backbone, 2, seed=0) for _ in range(2)]
    options = dict(epochs=2, learning_rate=1e-2, weight_decay=0.05, batch_size=4, label_smoothing=0.1)
    fit_top(networks[0], activations, labels, torch.Generator().manual_seed(0), rows=rows, **options)
    fit_top(networks[1], activations[rows], labels[rows], torch.Generator().manual_seed(0), **options)
    for (name, trained), copied in zip(networks[0].state_dict().items(), networks[1].state_dict().values()):
        torch.testing.assert_close(trained, copied, msg=name)
    assert not torch.equal(networks[0].conv_head.weight, top_network(tiny_backbone, 2, seed=0).conv_head.weight)


def test_on_a_cpu_the_activations_stay_where_they_are_and_a_tensor_of_them_trains_as_the_array(tiny_backbone):
    images, labels = _two_kinds_of_images(8)
    activations = _activations(tiny_backbone, images)
    stored = stored_activations(activations, torch.device("cpu"))
    assert stored.data_ptr() == activations.ctypes.data
    networks = [top_network(tiny_backbone, 2, seed=0) for _ in range(2)]
    options = dict(epochs=2, learning_rate=1e-2, weight_decay=0.05, batch_size=4, label_smoothing=0.1)
    fit_top(networks[0], activations, labels, torch.Generator().manual_seed(0), **options)
    fit_top(networks[1], stored, labels, torch.Generator().manual_seed(0), **options)
    for (name, from_array), from_tensor in zip(networks[0].state_dict().items(), networks[1].state_dict().values()):
        assert torch.equal(from_array, from_tensor), name


def test_batch_norms_that_do_not_follow_their_convolution_are_not_folded():
    class NormFirst(torch.nn.Module):  # registered conv, norm; runs norm, conv
        def __init__(self):
            super().__init__()
            self.conv, self.norm = torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3)

        def forward(self, inputs):
            return self.conv(self.norm(inputs))

    network = NormFirst().eval()
    with torch.no_grad():
        network.norm.running_mean.fill_(0.5)
    inputs = torch.rand(2, 3, 4, 4)
    folded = fold_batch_norms(copy.deepcopy(network))
    assert not _reproduces(folded, inputs, network(inputs).detach())  # what top_network checks before using it


def test_the_backbone_is_left_as_it_was(tiny_backbone):
    before = {k: v.clone() for k, v in tiny_backbone.model.state_dict().items()}
    images, labels = _two_kinds_of_images(6)
    last_stages_out_of_fold_probabilities(_activations(tiny_backbone, images), labels, np.arange(12) % 2, 2,
                                          tiny_backbone, epochs=1)
    assert all(torch.equal(before[k], v) for k, v in tiny_backbone.model.state_dict().items())


def test_folds_learn_what_they_never_saw_and_are_seeded(tiny_backbone):
    images, labels = _two_kinds_of_images(48)  # random weights: 32 training images were too few once the norms were folded
    activations = _activations(tiny_backbone, images)
    folds = assign_folds(labels, 3, 0)
    options = {"epochs": 8, "learning_rate": 3e-3, "batch_size": 16}
    first = last_stages_out_of_fold_probabilities(activations, labels, folds, 2, tiny_backbone, seed=1, **options)
    again = last_stages_out_of_fold_probabilities(activations, labels, folds, 2, tiny_backbone, seed=1, **options)
    other = last_stages_out_of_fold_probabilities(activations, labels, folds, 2, tiny_backbone, seed=2, **options)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_allclose(first.sum(axis=1), 1.0)
    assert (first.argmax(axis=1) == labels).mean() >= 0.9  # chance is 0.5


def test_the_folds_train_in_bf16_where_the_device_computes_it_and_reduced_precision_is_allowed(monkeypatch):
    cpu = torch.device("cpu")
    assert training_dtype(cpu) == reduced_precision(cpu)  # bf16 on CPUs with AMX or AVX-512 BF16, else None: fp32
    assert training_dtype(cpu, reduced_precision=False) is None  # embedding.precision fp32
    monkeypatch.setattr(last_stages, "autocast_dtype", lambda precision, device: torch.float16)  # a GPU without bf16
    assert training_dtype(torch.device("cuda")) is None  # fp16 would need gradient scaling


def test_strided_depthwise_convolutions_run_in_fp32_under_autocast_and_nothing_else_changes(tiny_backbone):
    network = top_network(tiny_backbone, 2, seed=0)
    strided = [name for name, module in network.named_modules() if isinstance(module, torch.nn.Conv2d)
               and module.groups == module.in_channels > 1 and max(module.stride) > 1]
    assert strided  # test_efficientnet: blocks.4.0.conv_dw
    inputs = torch.as_tensor(_activations(tiny_backbone, _two_kinds_of_images(2)[0])[:, 0]).float()
    with torch.inference_mode():
        expected = network(inputs)
        strided_depthwise_in_fp32(network)
        assert [name for name, module in network.named_modules() if isinstance(module, InFloat32)] == strided
        assert torch.equal(network(inputs), expected)
        convolution = network.get_submodule(strided[0])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert convolution(torch.rand(1, convolution.module.in_channels, 4, 4)).dtype == torch.float32
            assert network(inputs).dtype == torch.bfloat16  # the rest runs in bf16


def test_folds_trained_in_bf16_learn_and_are_seeded_on_any_cpu(tiny_backbone, monkeypatch):
    monkeypatch.setattr(last_stages, "training_dtype", lambda device, reduced_precision=True: torch.bfloat16)
    images, labels = _two_kinds_of_images(48)
    activations = _activations(tiny_backbone, images)
    folds = assign_folds(labels, 3, 0)
    options = {"epochs": 8, "learning_rate": 3e-3, "batch_size": 16, "seed": 1}
    first = last_stages_out_of_fold_probabilities(activations, labels, folds, 2, tiny_backbone, **options)
    np.testing.assert_array_equal(first, last_stages_out_of_fold_probabilities(activations, labels, folds, 2,
                                                                               tiny_backbone, **options))
    np.testing.assert_allclose(first.sum(axis=1), 1.0)
    assert (first.argmax(axis=1) == labels).mean() >= 0.9  # chance is 0.5
    monkeypatch.setattr(last_stages, "training_dtype", lambda device, reduced_precision=True: None)
    assert not np.array_equal(first, last_stages_out_of_fold_probabilities(activations, labels, folds, 2,
                                                                           tiny_backbone, **options))  # fp32


def test_runs_average_networks_of_their_own_seeds(tiny_backbone):
    """Run r of fold f starts from seed + f + r × RUN_SEED_STEP: two runs are the average of one run from the seed
    and one from the seed plus the step."""
    from labelfix.crossval.last_stages import RUN_SEED_STEP

    images, labels = _two_kinds_of_images(12)
    activations = _activations(tiny_backbone, images)
    folds = assign_folds(labels, 2, 0)
    options = {"epochs": 2, "learning_rate": 3e-3, "batch_size": 8}
    one, other = (last_stages_out_of_fold_probabilities(activations, labels, folds, 2, tiny_backbone, seed=seed,
                                                        **options) for seed in (3, 3 + RUN_SEED_STEP))
    two = last_stages_out_of_fold_probabilities(activations, labels, folds, 2, tiny_backbone, seed=3, runs=2, **options)
    assert not np.allclose(one, other)
    np.testing.assert_allclose(two, (one + other) / 2, atol=1e-6)


def test_a_model_that_does_not_chain_its_layers_is_refused(tmp_path):
    import timm

    torch.save(timm.create_model("test_vit").state_dict(), tmp_path / "vit.pth")
    backbone = load_backbone("test_vit", tmp_path / "vit.pth")
    with pytest.raises(ModelError, match="cannot be run on their own; use crossval.method embedding"):
        top_network(backbone, 3, seed=0)


def test_peak_scores_count_an_object_in_one_corner_for_label_sets(tiny_backbone):
    activations = torch.from_numpy(_activations(tiny_backbone, torch.rand(3, 3, 32, 32))[:, 0]).float()
    plain = top_network(tiny_backbone, 4, seed=0)
    peaked = top_network(tiny_backbone, 4, seed=0, peak_weight=0.5)
    assert isinstance(peaked, PeakAndMeanLogits) and peaked.peak_weight == 0.5
    with torch.inference_mode():
        features = plain.forward_features(activations)
        scores = torch.einsum("bchw,kc->bkhw", features, plain.get_classifier().weight)
        torch.testing.assert_close(PeakAndMeanLogits(plain, 0.0)(activations), plain(activations))
        torch.testing.assert_close(peaked(activations) - plain(activations), 0.5 * scores.amax(dim=(2, 3)))

    matrix = np.array([[1, 0, 1], [0, 1, 0]] * 6)
    images, _ = _two_kinds_of_images(6)
    probabilities = last_stages_out_of_fold_probabilities(_activations(tiny_backbone, images), matrix,
                                                          np.arange(12) % 2, 3, tiny_backbone, epochs=1,
                                                          peak_weight=1.0)
    assert probabilities.shape == (12, 3) and ((probabilities > 0) & (probabilities < 1)).all()


def test_peak_scores_are_skipped_with_a_warning_where_the_head_does_more_than_pool(tmp_path, caplog):
    import timm

    torch.save(timm.create_model("test_convnext").state_dict(), tmp_path / "convnext.pth")
    backbone = with_input_size(load_backbone("test_convnext", tmp_path / "convnext.pth"), 64)
    network = top_network(backbone, 3, seed=0, peak_weight=1.0)  # ConvNeXt normalises the pooled features
    assert not isinstance(network, PeakAndMeanLogits)
    assert "peak scores are not used" in caplog.text
