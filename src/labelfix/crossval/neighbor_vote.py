"""The neighbours' label vote: class probabilities from the given labels of each image's nearest images."""

from __future__ import annotations

import numpy as np

from labelfix.features.neighbors import Neighbors


def neighbor_vote(neighbors: Neighbors, labels: np.ndarray, n_classes: int, temperature: float = 0.07) -> np.ndarray:
    """Class probabilities (N, K) from the labels of each image's neighbours (its own label is not among them),
    each neighbour weighted by exp(similarity / temperature) so that the closest count most."""
    weights = np.exp((1.0 - neighbors.distances) / temperature)
    votes = np.zeros((len(neighbors.indices), n_classes))
    np.add.at(votes, (np.arange(len(votes))[:, None], labels[neighbors.indices]), weights)
    return votes / votes.sum(axis=1, keepdims=True)
