"""Several checkpoints as one classifier: soft voting (their probabilities averaged) or hard voting (each
member's most probable class is one vote; ties go to the class the soft vote prefers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelfix.errors import ModelError
from labelfix.training.checkpoint import Checkpoint, load_checkpoint

VOTES = ("soft", "hard")


def combine(members: list[np.ndarray], vote: str = "soft") -> np.ndarray:
    """(N, K) from the members' (N, K) probabilities: their mean (soft), or each class's share of the members'
    votes (hard)."""
    if vote not in VOTES:
        raise ModelError(f"--vote {vote}: one of {', '.join(VOTES)}")
    soft = np.mean(members, axis=0)
    if vote == "soft":
        return soft
    n_classes = soft.shape[1]
    shares = np.mean([np.eye(n_classes)[member.argmax(axis=1)] for member in members], axis=0)
    return shares + 1e-9 * soft  # a tie of votes goes to the soft vote's favourite


def load_members(paths: list[Path], device="cpu") -> list[Checkpoint]:
    """The checkpoints of an ensemble; they must know the same classes, in the same order."""
    members = [load_checkpoint(path, device) for path in paths]
    for path, member in zip(paths[1:], members[1:]):
        if member.multilabel != members[0].multilabel:
            raise ModelError(f"{path}: a {'multi' if member.multilabel else 'single'}-label checkpoint cannot vote "
                             f"with {paths[0]}")
        if member.classes != members[0].classes:
            raise ModelError(f"{path}: its classes ({', '.join(member.classes)}) are not those of {paths[0]} "
                             f"({', '.join(members[0].classes)}); an ensemble's members must share them")
    return members
