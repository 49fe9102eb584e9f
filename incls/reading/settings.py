"""A reading's settings: one frozen dataclass, each field documented in its metadata.

The dataclass is the single source of the settings list. How a client's values are read
into it, and the JSON schema the VS Code extension's settings are generated from, are the
protocol's side: `incls.lsp.settings` (`python -m incls.lsp.settings --json`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..text.markdown import NODES as MARKDOWN_NODES
from ..text.projection import MODES as NODE_MODES

SEVERITIES = ("error", "warning", "information", "hint")


@dataclass(frozen=True)
class Settings:
    enable: bool = field(
        default=True, metadata={"description": "Classify open documents and show the result as diagnostics."}
    )
    severity: str = field(
        default="information",
        metadata={
            "description": 'Severity of the document-level diagnostic ("Reads positive (0.94)"); a neutral or empty document shows none.',
            "enum": SEVERITIES,
        },
    )
    sentenceHints: int = field(
        default=3,
        metadata={
            "description": "How many sentences to point out at most: those that carry the document's tone most, and "
            "the strongest one pulling against it (0: none).",
            "minimum": 0,
            "maximum": 50,
        },
    )
    sentenceThreshold: float = field(
        default=0.7,
        metadata={
            "description": "How clearly a sentence must read as the document's tone on its own (its class "
            "probability) to be pointed out as carrying it.",
            "minimum": 0.0,
            "maximum": 1.0,
        },
    )
    sentenceAgainstThreshold: float = field(
        default=0.6,
        metadata={
            "description": "How clearly a sentence must read as another tone rather than the document's to be "
            "pointed out as pulling against it: of those two classes, its probability of its own, p / (p + "
            "p_document); it must also read as that tone more than as any other. Neutral does not dilute "
            "this bar as it does sentenceThreshold's: one sentence against the grain is what a writer most "
            "wants to see.",
            "minimum": 0.0,
            "maximum": 1.0,
        },
    )
    sentenceSeverity: str = field(
        default="hint",
        metadata={
            "description": 'Severity of the sentence hints ("This sentence reads strongly negative").',
            "enum": SEVERITIES,
        },
    )
    maxDocumentBytes: int = field(
        default=1_000_000,
        metadata={
            "description": "Documents larger than this (UTF-8 bytes) are not classified; a message says so.",
            "minimum": 0,
        },
    )
    maxDocumentTokens: int = field(
        default=25_000,
        metadata={
            "description": "Documents of more tokens than this are not classified (model memory grows with the tokens); a message says so.",
            "minimum": 1,
        },
    )
    maxSessions: int = field(
        default=32,
        metadata={
            "description": "Documents whose model state is kept in memory; the least recently used is dropped and rebuilt when needed.",
            "minimum": 1,
        },
    )
    chunkTokens: int = field(
        default=512,
        metadata={
            "description": "Documents longer than this many tokens are classified in chunks split at paragraph breaks.",
            "minimum": 16,
        },
    )
    fullRecompute: bool = field(
        default=False,
        metadata={
            "description": "Recompute the whole model on every change instead of incrementally (for comparison; slower)."
        },
    )
    statusNotifications: bool = field(
        default=True,
        metadata={
            "description": "Send the incls/status notification (tone, confidence, probabilities, latency, operations saved) after each update."
        },
    )
    modelPath: str = field(
        default="",
        metadata={
            "description": "Path of a model checkpoint (.safetensors, its NAME.ngrams.safetensors beside it when it has one) to use instead of the shipped one; a change reloads the model, and a path that cannot be used falls back to the shipped model with a message."
        },
    )
    markdownNodes: dict = field(
        default_factory=lambda: dict(MARKDOWN_NODES),
        metadata={
            "description": 'What each kind of Markdown node becomes in the text the model reads: "ignore" (dropped), '
            '"placeholder" (a short neutral word) or "keep" (read as prose). Kinds left out keep their default.',
            "keys": tuple(MARKDOWN_NODES),
            "values": NODE_MODES,
        },
    )
    latexCommands: dict = field(
        default_factory=dict,
        metadata={
            "description": 'LaTeX commands (e.g. "\\\\cite" or "mymacro") and what they become: "ignore" (dropped with '
            'their arguments), "placeholder" or "keep" (their text arguments read); added to the built-in list.',
            "values": NODE_MODES,
        },
    )
    latexEnvironments: dict = field(
        default_factory=dict,
        metadata={
            "description": 'LaTeX environments (e.g. "lstlisting") and what they become: "ignore", "placeholder" or '
            '"keep" (their content read); added to the built-in list (math and verbatim environments are ignored).',
            "values": NODE_MODES,
        },
    )

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


def default_value(f: dataclasses.Field):
    """A setting's default value (a fresh copy for a mapping)."""
    return f.default_factory() if callable(f.default_factory) else f.default
