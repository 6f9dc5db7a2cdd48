import numpy as np

from labelfix.issues.label import estimated_noise_rates, find_label_problems, noise_matrix


def _probabilities(labels, flipped, n_classes=3, seed=0):
    """Confident correct predictions, except on the `flipped` images, where class (label+1) is predicted."""
    rng = np.random.default_rng(seed)
    truth = labels.copy()
    truth[flipped] = (labels[flipped] + 1) % n_classes
    probabilities = rng.uniform(0.0, 0.1, (len(labels), n_classes))
    probabilities[np.arange(len(labels)), truth] += 0.9
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def test_flipped_labels_are_flagged_with_suggestion_and_low_score():
    labels = np.repeat(np.arange(3), 30)
    flipped = np.array([3, 40, 77])
    result = find_label_problems(labels, _probabilities(labels, flipped))
    assert np.flatnonzero(result.is_label_issue).tolist() == flipped.tolist()
    assert result.suggested_label[flipped].tolist() == ((labels[flipped] + 1) % 3).tolist()
    assert result.label_score[flipped].max() < np.delete(result.label_score, flipped).min()
    assert ((result.label_score >= 0) & (result.label_score <= 1)).all()
    assert (result.suggested_probability[flipped] > 0.5).all()


def test_noise_rates_and_matrix():
    labels = np.repeat(np.arange(3), 30)
    flipped = np.arange(0, 6)  # six images of class 0 are really class 1
    probabilities = _probabilities(labels, flipped)
    rates = estimated_noise_rates(labels, probabilities)
    assert rates.shape == (3,) and rates[0] > rates[1] and rates[0] > rates[2]


def test_noise_matrix_counts_flagged_pairs():
    labels = np.array([0, 0, 1, 2, 2])
    suggested = np.array([1, 1, 1, 0, 2])
    flagged = np.array([True, True, False, True, False])
    assert noise_matrix(labels, suggested, flagged, 3).tolist() == [[0, 2, 0], [0, 0, 0], [1, 0, 0]]
