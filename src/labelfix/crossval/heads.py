"""Classifier heads fitted on each fold's embeddings, sklearn-style (`fit`, `predict_proba`, `classes_`)."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer

from labelfix.devices import exact_fp32_matmul


def make_head(kind: str = "logistic", regularization: float = 10.0, seed: int = 0):
    """The classifier fitted on each fold: `logistic` (see `logistic_head`) or `mlp` (`MLPHead`)."""
    if kind == "mlp":
        return MLPHead(seed=seed)
    if kind == "logistic":
        return logistic_head(regularization, seed)
    raise ValueError(f"unknown head {kind!r}; use logistic or mlp")


def logistic_head(regularization: float = 10.0, seed: int = 0) -> Pipeline:
    """Unit-length embeddings, then multinomial logistic regression (inverse L2 strength `regularization`).

    Measured: L2-normalised inputs beat standardised ones (digits example AUROC 0.999 vs 0.99); C = 10 is
    within 0.001 of the best AUROC on both the digits example (best C = 30) and CIFAR-10N (best C = 3).
    """
    return make_pipeline(
        Normalizer(),
        # tol 1e-3 instead of 1e-4: the same AUROC on 10k CIFAR-10N images (0.9039) in 17 s instead of 44 s
        LogisticRegression(C=regularization, tol=1e-3, max_iter=3000, random_state=seed),
    )


def logistic_heads_on_device(features: np.ndarray, labels: np.ndarray, folds: np.ndarray, n_classes: int,
                             regularization: float, device: torch.device | str, *, tolerance: float = 1e-4,
                             max_iterations: int = 1000) -> np.ndarray:
    """Out-of-fold probabilities (N, K) from one `logistic_head` per fold (unit-length rows, multinomial logistic
    regression, L2 with inverse strength `regularization`), all folds fitted at once by full-batch L-BFGS in torch
    on `device`: the scan's head on a GPU, where 5 folds of 50,000 × 1,712 embeddings take about a second.

    Each fold minimises scikit-learn's objective (mean cross-entropy over its training rows + ||W||² / (2 C n),
    bias not penalised); their sum is minimised jointly (the problems are independent, so the joint optimum is
    each fold's optimum, and one solver run replaces five). A class absent from a fold's training rows gets
    probability 0 from that fold, as with scikit-learn. Starts from zeros: nothing is random.
    """
    device = torch.device(device)
    fold_ids = np.unique(folds)
    rows = torch.as_tensor(features, dtype=torch.float32, device=device)
    rows = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    targets = torch.as_tensor(labels, device=device)
    training = torch.as_tensor(np.stack([folds != fold for fold in fold_ids]), device=device)  # (F, N)
    present = torch.zeros(len(fold_ids), n_classes, dtype=torch.bool, device=device)  # (F, K)
    for f in range(len(fold_ids)):
        present[f, targets[training[f]].unique()] = True
    absent = torch.where(present, 0.0, -torch.inf)[:, None, :]  # (F, 1, K): added to the logits
    counts = training.sum(dim=1, keepdim=True).float()
    row_weights = training.float() / counts  # (F, N): each fold's mean over its training rows
    penalties = 1.0 / (2 * regularization * counts[:, 0])  # (F,)
    weights = torch.zeros(len(fold_ids), rows.shape[1], n_classes, device=device, requires_grad=True)
    bias = torch.zeros(len(fold_ids), 1, n_classes, device=device, requires_grad=True)

    def logits() -> torch.Tensor:  # (F, N, K)
        return torch.einsum("nd,fdk->fnk", rows, weights) + bias + absent

    optimizer = torch.optim.LBFGS([weights, bias], lr=1, max_iter=max_iterations, history_size=20,
                                  tolerance_grad=tolerance, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        scores = logits()
        losses = torch.logsumexp(scores, dim=2) - scores.gather(2, targets.expand(len(fold_ids), -1)[..., None])[..., 0]
        losses = torch.where(training, losses, 0.0)  # a held-out row of a class its fold lacks has an infinite loss
        loss = (losses * row_weights).sum() + (penalties * weights.square().sum(dim=(1, 2))).sum()
        loss.backward()
        return loss

    with exact_fp32_matmul():
        optimizer.step(objective)
        with torch.no_grad():
            probabilities = logits().softmax(dim=2)  # (F, N, K)
    held_out = torch.as_tensor(np.searchsorted(fold_ids, folds), device=device)
    return probabilities[held_out, torch.arange(len(folds), device=device)].double().cpu().numpy()


class MinibatchLogisticHead:
    """Multinomial logistic regression on unit-length embeddings, fitted with minibatches (AdamW, one-cycle) drawn
    from rows of one shared matrix: for datasets where sklearn's solver would copy every training row as float64
    (800,000 × 1,712 of them: 11 GB per fold). `rows` name the rows of `features` to use; nothing else is copied.
    Seeded by its own generator, like `MLPHead`.
    """

    def __init__(self, *, epochs: int = 4, min_steps: int = 300, batch_size: int = 4096, learning_rate: float = 0.05,
                 weight_decay: float = 1e-4, seed: int = 0) -> None:
        self.epochs, self.min_steps, self.batch_size, self.learning_rate = epochs, min_steps, batch_size, learning_rate
        self.weight_decay, self.seed = weight_decay, seed

    def fit(self, features: np.ndarray, labels: np.ndarray, rows: np.ndarray | None = None) -> MinibatchLogisticHead:
        """Fit on `features[rows]` with `labels[rows]` (all rows when None)."""
        rows = np.arange(len(features)) if rows is None else rows
        self.classes_, targets = np.unique(labels[rows], return_inverse=True)
        targets = torch.as_tensor(targets)
        generator = torch.Generator().manual_seed(self.seed)
        self.layer_ = torch.nn.Linear(features.shape[1], len(self.classes_), device="meta").to_empty(device="cpu")
        torch.nn.init.zeros_(self.layer_.weight)  # a convex problem: zeros start it, and no random draw is needed
        torch.nn.init.zeros_(self.layer_.bias)
        batches = -(-len(rows) // self.batch_size)
        epochs = max(self.epochs, -(-self.min_steps // batches))
        optimizer = torch.optim.AdamW(self.layer_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.learning_rate, total_steps=epochs * batches)
        for _ in range(epochs):
            order = torch.randperm(len(rows), generator=generator).numpy()
            for batch in np.array_split(order, batches):
                batch = np.sort(batch)  # rows read in order: faster from a large matrix
                optimizer.zero_grad()
                logits = self.layer_(_unit_rows(features[rows[batch]]))
                torch.nn.functional.cross_entropy(logits, targets[batch]).backward()
                optimizer.step()
                schedule.step()
        return self

    def predict_proba(self, features: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        rows = np.arange(len(features)) if rows is None else rows
        with torch.inference_mode():
            return np.concatenate([
                self.layer_(_unit_rows(features[chunk])).softmax(dim=1).numpy().astype(np.float64)
                for chunk in np.array_split(rows, max(1, -(-len(rows) // self.batch_size)))
            ])


class MLPHead:
    """A one-hidden-layer network on standardised unit-length embeddings (torch, CPU).

    AdamW, one-cycle schedule, dropout and label smoothing; at least `min_steps` optimizer steps so small
    datasets are trained too. Every random draw (initial weights, batch order, dropout) comes from the head's
    own seeded generator: torch's global random state is never touched, so folds can be fitted in parallel
    threads and still give the same result.
    """

    def __init__(self, *, hidden: int = 1024, epochs: int = 8, min_steps: int = 300, batch_size: int = 256,
                 learning_rate: float = 1e-3, weight_decay: float = 0.05, dropout: float = 0.5, seed: int = 0) -> None:
        self.hidden, self.epochs, self.min_steps, self.batch_size = hidden, epochs, min_steps, batch_size
        self.learning_rate, self.weight_decay, self.dropout, self.seed = learning_rate, weight_decay, dropout, seed

    def fit(self, features: np.ndarray, labels: np.ndarray) -> MLPHead:
        self.classes_, targets = np.unique(labels, return_inverse=True)
        unit = _unit_rows(features)
        self.mean_, self.scale_ = unit.mean(0), unit.std(0) + 1e-6
        inputs, targets = (unit - self.mean_) / self.scale_, torch.as_tensor(targets)
        generator = torch.Generator().manual_seed(self.seed)
        self.network_ = torch.nn.Sequential(
            _seeded_linear(inputs.shape[1], self.hidden, generator), torch.nn.GELU(),
            _SeededDropout(self.dropout, generator), _seeded_linear(self.hidden, len(self.classes_), generator),
        )
        batches = -(-len(targets) // self.batch_size)
        steps = max(self.epochs * batches, self.min_steps)
        optimizer = torch.optim.AdamW(self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.learning_rate, total_steps=steps)
        loss_function = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
        for step in range(steps):
            if step % batches == 0:
                order = torch.randperm(len(targets), generator=generator)
            batch = order[(step % batches) * self.batch_size:][: self.batch_size]
            optimizer.zero_grad()
            loss_function(self.network_(inputs[batch]), targets[batch]).backward()
            optimizer.step()
            schedule.step()
        self.network_.eval()
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            inputs = (_unit_rows(features) - self.mean_) / self.scale_
            return self.network_(inputs).softmax(dim=1).numpy().astype(np.float64)


def _unit_rows(features: np.ndarray) -> torch.Tensor:
    norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    return torch.as_tensor(features / norms, dtype=torch.float32)


def _seeded_linear(inputs: int, outputs: int, generator: torch.Generator) -> torch.nn.Linear:
    """A linear layer with torch's default initialisation (uniform in ±1/sqrt(inputs)) drawn from `generator`."""
    layer = torch.nn.Linear(inputs, outputs, device="meta").to_empty(device="cpu")
    bound = 1 / math.sqrt(inputs)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


class _SeededDropout(torch.nn.Module):
    """Dropout whose masks come from `generator` (torch's Dropout draws from the global random state)."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)
