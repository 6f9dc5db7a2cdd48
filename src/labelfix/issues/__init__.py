"""Issue finders: pure functions over labels, probabilities and features."""
