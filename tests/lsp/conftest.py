"""Markers for the language-server tests."""


def pytest_configure(config):
    config.addinivalue_line("markers", "trained: needs the trained model's judgement (run once trained weights ship)")
