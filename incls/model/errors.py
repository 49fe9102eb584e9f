"""Errors a user can act on: each names the file at fault and the fix."""


class ModelError(RuntimeError):
    """Raised when the base model, the shipped weights or a checkpoint cannot be used.

    The message is meant to be shown as is (CLI, LSP window message): it names the
    file and says how to fix the problem, so no traceback is needed to act on it.
    """

    def __init__(self, problem: str, path: object = None, fix: str = "") -> None:
        parts = [problem if path is None else f"{problem}: {path}"]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__("\n".join(parts))
        self.path = path
        self.fix = fix
