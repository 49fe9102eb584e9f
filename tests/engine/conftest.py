"""Fixtures of the engine tests."""

from __future__ import annotations

import pytest

from engine_testing import random_model


@pytest.fixture(scope="session")
def tiny_model():
    return random_model(0)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models do tiny tensor operations: one thread is fastest, on a busy machine by far."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
