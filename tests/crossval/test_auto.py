"""Method auto's choice between the embedding head and the last stages."""

from __future__ import annotations

import pytest

from labelfix.crossval.auto import (
    choose_method,
    input_side_for_last_stages,
    last_stages_epochs,
    last_stages_runs,
    one_more_stage,
)

DEFAULTS = dict(below=0.85, max_images=20000, split_problem=None)  # a smaller budget than the default 80,000


def test_features_that_separate_the_classes_keep_the_embedding_head():
    choice = choose_method(0.93, 300, 224, **DEFAULTS)
    assert choice.method == "embedding" and "93.0%" in choice.reason and not choice.declined


def test_low_agreement_fine_tunes_the_last_stages_and_says_why():
    choice = choose_method(0.76, 10000, 160, **DEFAULTS)
    assert choice.method == "last_stages"
    assert "76.0%" in choice.reason and "85%" in choice.reason


@pytest.mark.parametrize(("images", "side", "method"), [
    (20000, 128, "last_stages"), (20001, 128, "embedding"),  # the work counts images at 128 px ...
    (12800, 160, "last_stages"), (12900, 160, "embedding"),  # ... and grows with the input's area
])
def test_the_work_must_fit(images, side, method):
    choice = choose_method(0.7, images, side, **DEFAULTS)
    assert choice.method == method and choice.declined == (method == "embedding")
    if method == "embedding":
        assert "--method last_stages" in choice.reason and "auto_max_images" in choice.reason


def test_a_larger_budget_takes_larger_sets():
    assert choose_method(0.7, 1_000_000, 224, **{**DEFAULTS, "max_images": 4_000_000}).method == "last_stages"


def test_a_backbone_that_cannot_be_split_keeps_the_head_and_says_why():
    choice = choose_method(0.7, 1000, 224, **{**DEFAULTS, "split_problem": "vit: no feature stages"})
    assert choice.method == "embedding" and "vit: no feature stages" in choice.reason and choice.declined


def test_label_sets_are_judged_by_the_measure_they_give():
    measure = "out-of-fold micro-F1 against the given label sets"
    choice = choose_method(0.71, 5000, 224, **DEFAULTS, measure=measure)
    assert choice.method == "last_stages" and f"{measure} is 71.0%" in choice.reason
    assert choose_method(0.9, 5000, 224, **DEFAULTS, measure=measure).method == "embedding"


@pytest.mark.parametrize(("images", "epochs"), [(10000, 3), (20000, 3), (20001, 2), (50000, 2)])
def test_epochs_fall_to_two_past_the_full_epochs_images(images, epochs):
    assert last_stages_epochs(images) == epochs  # whatever the input side: a larger one gives no more steps


@pytest.mark.parametrize(("images", "auto_side", "side"), [
    (10000, 160, 160), (50000, 160, 160),  # fit as they are (the default budget, 80,000 at 128 px)
    (60000, 160, 128), (80000, 160, 128),  # small images drop to 128 px when the work at 160 is past the budget
    (60000, 224, 224), (60000, 192, 192),  # photos keep their size: their head seldom needs the last stages
    (60000, 128, 128),
])
def test_small_images_are_embedded_at_128_px_when_that_is_what_fits(images, auto_side, side):
    assert input_side_for_last_stages(images, auto_side, 80000) == side


@pytest.mark.parametrize(("images", "side", "more"), [
    (12800, 160, True), (12801, 160, False), (20000, 128, True), (20001, 128, False), (6500, 224, True), (6600, 224, False),
])
def test_sets_of_up_to_about_12800_small_images_fine_tune_one_stage_more(images, side, more):
    assert one_more_stage(images, side) is more


@pytest.mark.parametrize(("images", "side", "runs"), [
    (50000, 160, 1), (12800, 160, 1), (6401, 160, 1), (6400, 160, 2), (4267, 160, 2), (4266, 160, 3),
    (3201, 160, 3), (3200, 160, 4), (40, 160, 4),
    (20000, 128, 1), (10000, 128, 2), (6000, 224, 1), (3000, 224, 2), (2000, 224, 3),  # a 224-px image is 3x the work
])
def test_smaller_sets_average_more_runs_in_the_same_work(images, side, runs):
    assert last_stages_runs(images, side) == runs
