import os
import tempfile

import pytest


def pytest_configure(config):
    """Servers started by the tests keep the user's choices in a scratch state directory."""
    os.environ["INCLS_STATE"] = tempfile.mkdtemp(prefix="incls-state-")


@pytest.fixture(scope="session")
def tokenizer():
    from incls.model.base import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def shipped_model():
    from incls.model.checkpoint import load_model

    return load_model()
