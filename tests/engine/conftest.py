"""Fixtures of the engine tests."""

from __future__ import annotations

import pytest

from engine_testing import random_model


@pytest.fixture(scope="session")
def tiny_model():
    return random_model(0)
