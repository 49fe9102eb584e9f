"""The incremental engine: a document session that updates a VQ transformer's output after edits.

from incls.engine import Session, TokenEdit, ChunkedSession
s = Session(model, ids)
stats = s.apply([TokenEdit(start, end, new_ids)])   # stats.ops vs stats.ops_full
s.document_logits(), s.running_logits()
"""

from .chunked import ChunkedSession
from .edits import TokenEdit
from .ops import UpdateStats
from .session import Session

__all__ = ["ChunkedSession", "Session", "TokenEdit", "UpdateStats"]
