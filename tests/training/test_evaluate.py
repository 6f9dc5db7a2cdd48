import numpy as np

from labelfix.training.evaluate import evaluation_summary, most_confused, top_k_accuracy


def test_top_k_accuracy_counts_labels_among_the_k_most_probable():
    probabilities = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7]])
    labels = np.array([1, 2, 0])
    assert top_k_accuracy(labels, probabilities, 1) == 1 / 3
    assert top_k_accuracy(labels, probabilities, 2) == 2 / 3


def test_most_confused_pairs_come_largest_first_without_the_diagonal():
    matrix = np.array([[5, 2, 0], [1, 7, 3], [0, 0, 9]])
    assert most_confused(matrix, ["a", "b", "c"], limit=2) == [
        {"true": "b", "predicted": "c", "count": 3}, {"true": "a", "predicted": "b", "count": 2}]


def test_summary_of_predictions_against_labels():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    summary = evaluation_summary(labels, probabilities, ["cat", "dog"])
    assert summary["accuracy"] == 0.75 and summary["confusion_matrix"] == [[1, 1], [0, 2]]
    assert summary["per_class"]["cat"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert "top5_accuracy" not in summary
