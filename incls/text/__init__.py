"""Text to tokens: LSP positions, text edits in pre-edit coordinates, token edits."""

from .edits import TextEdit, diff_texts
from .positions import InvalidPosition, LineIndex, normalize_encoding
from .tokens import TokenEdit, TokenizedText, apply_token_edit

__all__ = [
    "InvalidPosition",
    "LineIndex",
    "TextEdit",
    "TokenEdit",
    "TokenizedText",
    "apply_token_edit",
    "diff_texts",
    "normalize_encoding",
]
