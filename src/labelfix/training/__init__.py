"""Fine-tuning a classifier: splits, the training loop, lr finder, checkpoints, evaluation, prediction."""
