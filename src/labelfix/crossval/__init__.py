"""Everything that makes out-of-fold probabilities: folds, heads on embeddings, per-fold fine-tuning, the
neighbours' vote, and their combination."""
