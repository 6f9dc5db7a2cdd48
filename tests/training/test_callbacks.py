from types import SimpleNamespace

import torch

from labelfix.training.callbacks import WeightAverage, is_better, metrics_csv
from labelfix.training.distributed import Context


def test_weight_average_follows_the_weights_slowly_and_is_what_validation_uses():
    network = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(network.weight)
    trainer = SimpleNamespace(network=network, context=Context(), step=0, eval_network=network)
    average = WeightAverage(decay=0.9)
    average.before_fit(trainer)
    assert trainer.eval_network is not network
    for step in range(1, 51):
        with torch.no_grad():
            network.weight.fill_(float(step))  # the live weights keep rising
        trainer.step = step
        average.after_step(trainer)
    averaged = trainer.eval_network.weight
    assert 30 < averaged.min() and averaged.max() < 48  # follows them, a few steps behind (decay 0.9: about 9)


def test_better_epochs_have_higher_accuracy_then_lower_loss():
    best = {"val_accuracy": 0.8, "val_loss": 0.5}
    assert is_better({"val_accuracy": 0.9, "val_loss": 0.9}, best)
    assert is_better({"val_accuracy": 0.8, "val_loss": 0.4}, best)
    assert not is_better({"val_accuracy": 0.8, "val_loss": 0.6}, best)
    assert is_better({"train_loss": 1.0}, best)  # without validation the latest epoch wins
    assert is_better({"val_accuracy": 0.1, "val_loss": 9.0}, None)


def test_metrics_csv_has_fixed_columns_and_no_timings():
    text = metrics_csv([{"epoch": 1, "phase": "frozen", "train_loss": 0.123456789, "val_loss": "", "val_accuracy": "",
                         "lr": 0.01}])
    assert text.splitlines() == ["epoch,phase,train_loss,val_loss,val_accuracy,lr", "1,frozen,0.123457,,,0.01"]
