import numpy as np

from labelfix.crossval.neighbor_vote import neighbor_vote
from labelfix.features.neighbors import Neighbors


def test_neighbor_vote_weights_closer_neighbours_more():
    neighbors = Neighbors(indices=np.array([[1, 2], [0, 2], [1, 0]]), distances=np.array([[0.0, 0.5], [0.1, 0.1], [0.2, 0.2]]))
    labels = np.array([0, 1, 1])
    vote = neighbor_vote(neighbors, labels, n_classes=3, temperature=0.1)
    near, far = np.exp(1.0 / 0.1), np.exp(0.5 / 0.1)
    np.testing.assert_allclose(vote[0], [0.0, 1.0, 0.0])  # both neighbours say 1
    np.testing.assert_allclose(vote[1], [0.5, 0.5, 0.0])  # equally close: an even split
    np.testing.assert_allclose(neighbor_vote(Neighbors(np.array([[1, 2]]), np.array([[0.0, 0.5]])), labels[[0, 0, 1]], 2, 0.1)[0],
                               [near / (near + far), far / (near + far)])
    np.testing.assert_allclose(vote.sum(axis=1), 1.0)
