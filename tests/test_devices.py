import pytest
import torch

from labelfix import devices


class RecordingLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_the_heap_is_reused_inside_the_outermost_block_and_the_defaults_come_back_after_it(monkeypatch):
    libc = RecordingLibc()
    monkeypatch.setattr(devices, "_glibc", lambda: libc)
    reuse = [("mallopt", parameter, value) for parameter, value in devices.HEAP_REUSE.items()]
    defaults = [("mallopt", parameter, value) for parameter, value in devices.GLIBC_DEFAULTS.items()]
    with devices.reused_heap():
        assert libc.calls == reuse
        with devices.reused_heap():  # nested: nothing changes
            pass
        assert libc.calls == reuse
    assert libc.calls == reuse + defaults + [("malloc_trim", 0)]
    with pytest.raises(RuntimeError), devices.reused_heap():  # an error inside still restores them
        raise RuntimeError("stopped")
    assert libc.calls[-len(defaults) - 1 :] == defaults + [("malloc_trim", 0)]


def test_without_glibc_the_block_changes_nothing(monkeypatch):
    monkeypatch.setattr(devices, "_glibc", lambda: None)
    with devices.reused_heap():
        pass


def test_a_network_computes_the_same_numbers_inside_the_block():
    """On this machine's C library (glibc on Linux: the real settings), a training step's gradients and a forward
    pass's outputs are the same to the bit inside and outside the block."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3), torch.nn.ReLU6(), torch.nn.Conv2d(64, 8, 3))
    images = torch.randn(16, 3, 96, 96)

    def outputs_and_gradients():
        network.zero_grad()
        outputs = network(images)
        outputs.square().mean().backward()
        return outputs.detach(), [parameter.grad.clone() for parameter in network.parameters()]

    outside = outputs_and_gradients()
    with devices.reused_heap():
        inside = outputs_and_gradients()
    assert torch.equal(outside[0], inside[0])
    assert all(torch.equal(a, b) for a, b in zip(outside[1], inside[1]))
