"""Method auto: the embedding head first; the backbone's last stages per fold when the head's out-of-fold accuracy
(for label sets, its micro-F1) says the frozen features separate the classes poorly, and the extra work fits the
machine.

Measured (README, "Defaults are measured"): on images the frozen features describe well (the digits example,
hymenoptera) the head agrees with the given labels on 90%+ of images and fine-tuning the last stages ranks no
better at 10-25× the time; on 32-pixel photos (CIFAR-10N, 10,000 images) the head agrees on about 76% and the last stages rank
label errors better (AUROC 0.943 against 0.912, 8.5 minutes against about 1.5 on 2 CPU cores, with one stage
more for a set this small: `one_more_stage`).

Larger sets of small images fit the same budget by fewer epochs and, past it, a smaller input (`last_stages_epochs`,
`input_side_for_last_stages`): 50,000 CIFAR-10N images at 160 px, 2 epochs, AUROC 0.960 in 19 minutes against 0.928
for the head (at 128 px: 0.957 in 13 minutes). Label sets: 10,000 mosaics of four CIFAR images at 224 px, the head's
micro-F1 63%, the last stages rank wrong sets at image AUROC 0.878 against 0.688 for the head, in 15 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

WORK_SIDE = 128  # the input side at which `max_images` counts one image: work grows with the input's area
FULL_EPOCHS_IMAGES = 20_000  # past this many images the last stages train 2 epochs per fold instead of 3
ONE_MORE_STAGE_WORK = 20_000  # up to this much work the last stages start one stage earlier (`one_more_stage`)
SMALL_IMAGE_SIDE = 160  # automatic input sides up to this (images of about 32 px) may drop to WORK_SIDE
MAX_RUNS = 4  # networks per fold for the smallest sets (`last_stages_runs`)


def work(n_images: int, input_side: int) -> float:
    """The last stages' work: images counted at WORK_SIDE px (a 160-px input counts 1.56)."""
    return n_images * (input_side / WORK_SIDE) ** 2


def last_stages_epochs(n_images: int) -> int:
    """Epochs per fold when `crossval.last_stages_epochs` is auto: 3, or 2 past FULL_EPOCHS_IMAGES, which keeps the
    time about linear in the images and still gives more optimizer steps than 3 epochs of smaller sets. Counted in
    images, not work: a larger input gives no more steps. Measured: CIFAR-10N, 10,000 images at 160 px, 3 epochs,
    AUROC 0.941 (4 epochs 0.941 at 1.4x the time); 50,000 at 160 px, 2 epochs, 0.960; 10,000 multi-label mosaics at
    224 px (work 30,600), 3 epochs, image AUROC 0.839 and entry AUROC 0.959 against 0.821 and 0.950 at 2."""
    return 3 if n_images <= FULL_EPOCHS_IMAGES else 2


def one_more_stage(n_images: int, input_side: int) -> bool:
    """Whether `crossval.last_stages_split: auto` fine-tunes one stage more (`Backbone.one_stage_earlier`): for
    work up to ONE_MORE_STAGE_WORK (12,800 images at 160 px), where the scan stays within about 15 minutes on 2 CPU
    cores (12,800 CIFAR-10N images: 10.2 minutes cold, the folds 1.7x as long as at the later split). Measured on
    10,000 CIFAR-10N images at 160 px (lite0, `blocks.3` instead of `blocks.4`; the folds 1.9-2.1x as long): `aggre`
    AUROC 0.943-0.946 against 0.938-0.941 in four runs, accuracy vs clean 0.867-0.878 against 0.857-0.864; `worst`
    0.942 against 0.938, accuracy 0.811 against 0.797; 12,800 `aggre` images 0.949 / 0.883 against 0.947 / 0.876."""
    return work(n_images, input_side) <= ONE_MORE_STAGE_WORK


def last_stages_runs(n_images: int, input_side: int) -> int:
    """Networks trained per fold when `crossval.last_stages_runs` is auto, their probabilities averaged: as many
    runs as fit ONE_MORE_STAGE_WORK, the work of one run on the largest set that fine-tunes one stage more (so the
    folds of a smaller set take no longer than that set's), from 1 to MAX_RUNS. A smaller set's one run depends
    more on chance (which weights the new classifier starts from, the order of the samples), and averaging runs
    removes some of it. Measured on CIFAR-10N at 160 px with one stage more (lite0), the neighbours' vote blended as
    the scan does: 3,000 `aggre` images, one run AUROC 0.920-0.923 and accuracy vs clean 0.819-0.821 (three
    seeds), two averaged 0.926-0.928 / 0.835-0.838, three 0.928 / 0.843; 3,000 `worst` images 0.915-0.919 /
    0.744-0.750, two 0.924-0.925 / 0.764-0.774, three 0.927 / 0.778; 1,000 `aggre` images, one run 0.861-0.895 /
    0.698-0.732 (four seeds), four averaged 0.895 / 0.757. At 10,000 images two runs gained 0.002-0.003 AUROC for twice
    the time, which that set does not have."""
    return max(1, min(MAX_RUNS, int(ONE_MORE_STAGE_WORK // max(work(n_images, input_side), 1))))


def input_side_for_last_stages(n_images: int, auto_side: int, max_images: int) -> int:
    """The automatic input side, or WORK_SIDE when the last stages' work at it is past `max_images` and the images
    are small (an automatic side of at most SMALL_IMAGE_SIDE): 32-pixel images are still enlarged 4x there, the
    embedding head ranks about as well (AUROC 0.870 at 128 px against 0.880 at 160, 3,000 CIFAR-10N images) and
    the last stages fit 1.56x as many images. Photos keep their size: their head seldom needs the last stages."""
    if WORK_SIDE < auto_side <= SMALL_IMAGE_SIDE and work(n_images, auto_side) > max_images:
        return WORK_SIDE
    return auto_side


@dataclass(frozen=True)
class MethodChoice:
    method: str  # "embedding" or "last_stages"
    reason: str  # one sentence for the log, run.json and the report
    low_agreement: bool = False  # the head's agreement was below the bar

    @property
    def declined(self) -> bool:
        """The agreement was low, yet the last stages were not fine-tuned (the log warns)."""
        return self.low_agreement and self.method == "embedding"


def choose_method(agreement: float, n_images: int, input_side: int, *, below: float, max_images: int,
                  split_problem: str | None, measure: str = "out-of-fold accuracy") -> MethodChoice:
    """Keep the embedding head or fine-tune the last stages, given the head's out-of-fold `agreement` with the
    given labels (`measure` names it: the accuracy for single labels, the micro-F1 of the presence for label sets).
    The last stages' work (`n_images` counted at WORK_SIDE px) must not pass `max_images` (their time, and the
    cached activations: 2 views × 22 KB per image at 160 px in lite0); `split_problem` says why the backbone
    cannot be split (None when it can)."""
    measured = f"the embedding head's {measure} is {agreement:.1%}"
    if agreement >= below:
        return MethodChoice("embedding", f"{measured} (at least {below:.0%}): the frozen features separate the classes")
    if split_problem:
        return MethodChoice("embedding", f"{measured}, below {below:.0%}, but the last stages cannot be fine-tuned "
                                         f"on their own ({split_problem})", low_agreement=True)
    if work(n_images, input_side) > max_images:
        return MethodChoice("embedding", f"{measured}, below {below:.0%}; fine-tuning the last stages on "
                                         f"{n_images:,} images at {input_side} px is more work than "
                                         f"crossval.auto_max_images ({max_images:,} at {WORK_SIDE} px) allows: "
                                         "run --method last_stages to do it anyway (2 epochs per fold took 19 "
                                         "minutes for 50,000 images at 160 px on 2 CPU cores), or raise it on a "
                                         "GPU",
                            low_agreement=True)
    return MethodChoice("last_stages", f"{measured}, below {below:.0%}: the last stages were fine-tuned per fold",
                        low_agreement=True)

