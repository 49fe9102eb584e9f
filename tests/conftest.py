import pytest


@pytest.fixture(scope="session")
def tokenizer():
    from incls.model.base import load_tokenizer
    return load_tokenizer()


@pytest.fixture(scope="session")
def shipped_model():
    from incls.model.checkpoint import load_model
    return load_model()
