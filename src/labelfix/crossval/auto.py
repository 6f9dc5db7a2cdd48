"""Method auto: the embedding head first; the backbone's last stages per fold when the head's out-of-fold accuracy
says the frozen features separate the classes poorly, and the extra work fits the machine.

Measured (README, "Defaults are measured"): on images the frozen features describe well (the digits example,
hymenoptera) the head agrees with the given labels on 90%+ of images and fine-tuning the last stages ranks no
better at 10-25× the time; on 32-pixel photos (CIFAR-10N, 10,000 images) the head agrees on about 76% and the last stages rank
label errors better (AUROC 0.941 against 0.912, 12 minutes against about 1.3 on 2 CPU cores).
"""

from __future__ import annotations

from dataclasses import dataclass

WORK_SIDE = 128  # the input side at which `max_images` counts one image: work grows with the input's area


@dataclass(frozen=True)
class MethodChoice:
    method: str  # "embedding" or "last_stages"
    reason: str  # one sentence for the log, run.json and the report
    low_agreement: bool = False  # the head's accuracy was below the bar

    @property
    def declined(self) -> bool:
        """The agreement was low, yet the last stages were not fine-tuned (the log warns)."""
        return self.low_agreement and self.method == "embedding"


def choose_method(accuracy: float | None, n_images: int, input_side: int, *, below: float, max_images: int,
                  split_problem: str | None) -> MethodChoice:
    """Keep the embedding head or fine-tune the last stages, given the head's out-of-fold `accuracy` against the
    given labels (None for label sets, which keep the head). The last stages' work (`n_images` counted at WORK_SIDE px) must not pass `max_images` (their
    time, and the cached activations: 2 views × 22 KB per image at 160 px in lite0); `split_problem` says why the
    backbone cannot be split (None when it can)."""
    if accuracy is None:
        return MethodChoice("embedding", "label sets: method auto keeps the embedding head (use --method last_stages "
                                         "when the per-class presence agreement is low)")
    measured = f"the embedding head's out-of-fold accuracy is {accuracy:.1%}"
    if accuracy >= below:
        return MethodChoice("embedding", f"{measured} (at least {below:.0%}): the frozen features separate the classes")
    if split_problem:
        return MethodChoice("embedding", f"{measured}, below {below:.0%}, but the last stages cannot be fine-tuned "
                                         f"on their own ({split_problem})", low_agreement=True)
    work = n_images * (input_side / WORK_SIDE) ** 2
    if work > max_images:
        return MethodChoice("embedding", f"{measured}, below {below:.0%}; fine-tuning the last stages on "
                                         f"{n_images:,} images at {input_side} px is more work than "
                                         f"crossval.auto_max_images ({max_images:,} at {WORK_SIDE} px) allows: "
                                         "run --method last_stages to do it anyway (on a CPU with --set "
                                         "embedding.image_size=128 --set crossval.last_stages_epochs=2: 50,000 "
                                         "32-px images took 31 minutes on 2 cores), or raise it on a GPU",
                            low_agreement=True)
    return MethodChoice("last_stages", f"{measured}, below {below:.0%}: the last stages were fine-tuned per fold",
                        low_agreement=True)


def may_fine_tune(multilabel: bool, n_images: int, input_side: int, *, below: float, max_images: int,
                  split_problem: str | None) -> bool:
    """Whether `choose_method` can choose the last stages for this data at all (it would for a head that agrees with
    no label): then the first pass keeps the activations it computes on the way, for them."""
    return choose_method(None if multilabel else 0.0, n_images, input_side, below=below, max_images=max_images,
                         split_problem=split_problem).method == "last_stages"
