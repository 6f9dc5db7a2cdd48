import numpy as np

from labelfix.features.neighbors import nearest_neighbors
from labelfix.issues.outliers import outlier_scores, robust_z


def test_outliers_from_knn_distance_and_from_prediction_entropy():
    rng = np.random.default_rng(0)
    points = rng.normal(0, 0.1, (60, 8)) + np.eye(8)[0] * 5
    points[7] = -points[7] * 3  # far from everything
    entropy = rng.uniform(0.1, 0.2, 60)
    entropy[12] = 0.95  # the backbone recognises nothing in image 12
    is_issue, score, z = outlier_scores(nearest_neighbors(points, 5), entropy, threshold=4.0)
    assert np.flatnonzero(is_issue).tolist() == [7, 12]
    assert (score[is_issue] < 0.5).all() and (score[~is_issue] >= 0.5).all()
    assert np.flatnonzero(outlier_scores(nearest_neighbors(points, 5), None, 4.0)[0]).tolist() == [7]


def test_robust_z():
    z = robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert z[2] == 0 and z[4] > 30
