"""Markdown -> prose: markdown-it-py's block tokens and an instrumented inline parse.

Why markdown-it-py: it is a CommonMark-compliant port of markdown-it (GitHub tables and
strikethrough built in), pure Python, and its block tokens carry the line ranges (`map`)
that incremental projection cuts on. Its inline tokens carry no positions, so the inline
rules are wrapped to record the source span each one consumed: the projection copies the
source between them, which gives an exact map back to the source instead of a search for
token text. Front matter (YAML `---` or TOML `+++` on the first line, closed by the same
line or `...`, else running to the end like an open fence) is recognised here, before the
parser, so that a region parsed alone never mistakes its first line for front matter.

Each leaf block (paragraph, heading, table row) ends with a blank line in the projection,
and each table cell with a line break, so the projection of a run of blocks is the
concatenation of theirs. A long table is cut every 64 rows: a row depends only on itself
and the table's header, so those segments are parsed after the header lines they continue. Link reference definitions are resolved against a table that knows every
label: a `[label]` reads the same wherever its definition is, which keeps edits local.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from .projection import LINE, PLACEHOLDER, Region, Segment, SegmentBuilder, previous_line_blank

NODES = {
    "code_block": "ignore",  # fenced and indented code
    "front_matter": "ignore",  # YAML / TOML at the top ("keep" reads it as Markdown)
    "html": "ignore",  # HTML blocks and inline tags (the text between inline tags stays)
    "code_inline": "placeholder",
    "link": "keep",  # the link text; the target is always dropped
    "image": "ignore",  # "keep" reads the alt text
    "autolink": "ignore",  # <https://...>
    "url": "ignore",  # bare URLs in text
    "heading": "keep",
    "table": "keep",  # cell text; the table syntax is always dropped
    "blockquote": "keep",
    "list": "keep",
}

URL = re.compile(r"(?:https?|ftp)://[^\s<>]*[^\s<>.,;:!?)\]'\"]|www\.[^\s<>]*[^\s<>.,;:!?)\]'\"]")
LIST_ITEM = re.compile(r"(?:[-+*]|\d{1,9}[.)])(?:[ \t\r\n]|$)")
FRONT_MATTER = {"---": ("---", "..."), "+++": ("+++",)}
RECORDER = "incls_spans"
INLINE_MARKUP = re.compile(r"[\n\\`~*_\[!<&]")  # the characters an inline rule can start at


class AnyReference(dict):
    """Reference definitions for the inline parser: every label resolves."""

    def get(self, key, default=None):  # noqa: D401 - dict interface
        return super().get(key) or {"href": "", "title": ""}


@dataclass
class Event:
    rule: str
    start: int
    end: int
    tokens: list[Token]
    lengths: list[int] = field(default_factory=list)


class Recorder:
    """Source spans consumed by the inline rules while one inline string is parsed."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.events: list[Event] = []


def _recording(name: str, fn):
    def rule(state, silent: bool) -> bool:
        rec = state.env.get(RECORDER)
        if silent or rec is None or state.src is not rec.src:
            return fn(state, silent)
        start, count = state.pos, len(state.tokens)
        ok = fn(state, silent)
        if ok:
            pushed = state.tokens[count:]
            rec.events.append(Event(name, start, state.pos, pushed, [len(t.content) for t in pushed]))
        return ok

    return rule


def make_parser() -> MarkdownIt:
    """CommonMark + tables + strikethrough; inline parsing is done per block, recorded."""
    md = MarkdownIt("commonmark", {"maxNesting": 50}).enable(["table", "strikethrough"])
    md.disable(["inline", "text_join"])  # core rules: inline content is parsed by `_inline`
    md.inline.ruler2.disable("fragments_join")  # keep the delimiter tokens the recorder knows
    for rule in list(md.inline.ruler.__rules__):
        md.inline.ruler.at(rule.name, _recording(rule.name, rule.fn))
    return md


_PARSER: MarkdownIt | None = None


def parser() -> MarkdownIt:
    global _PARSER
    if _PARSER is None:
        _PARSER = make_parser()
    return _PARSER


def normalize(text: str) -> str:
    """markdown-it's line-break and NUL normalisation, keeping every offset in place."""
    return text.replace("\r\n", " \n").replace("\r", "\n").replace("\x00", "\ufffd")


class Markdown:
    """The Markdown language of the incremental projection."""

    def __init__(self, nodes: dict[str, str] | None = None, table_rows: int = 64) -> None:
        self.nodes = {**NODES, **(nodes or {})}
        self.table_rows = table_rows  # a long table is cut into segments of this many rows
        self.md = parser()

    def may_cut(self, source: str, offset: int) -> bool:
        """A segment may begin on a line that starts with a non-space after a blank line."""
        if offset == 0:
            return True
        if offset >= len(source) or source[offset] in " \t\r\n":
            return False
        return previous_line_blank(source, offset)

    def may_join(self, source: str, offset: int) -> bool:
        """After a blank line only a list goes on, with an item at the margin."""
        return not self.may_cut(source, offset) or LIST_ITEM.match(source, offset) is not None

    def project(
        self, source: str, at_start: bool, probe: str, context: str | None = None, probe_context: str | None = None
    ) -> Region:
        text = normalize((context or "") + source)
        shift = len(context or "")
        starts = [m.start() for m in LINE.finditer(text)][:-1] if text else []
        body = 0
        if at_start and self.nodes["front_matter"] != "keep":
            body, closed = _front_matter(text, starts)
            if not closed:
                return Region([Segment(len(source))], False)
        reading = _Reading(self, text, starts, shift, context)
        closed = reading.run(body, probe, probe_context)
        return Region(reading.segments(len(source)), closed)


def _front_matter(text: str, starts: list[int]) -> tuple[int, bool]:
    """(offset where the Markdown body starts, whether front matter, if any, is closed here)."""
    if not starts:
        return 0, True
    first = text[: starts[1] if len(starts) > 1 else len(text)].rstrip()
    closers = FRONT_MATTER.get(first)
    if closers is None:
        return 0, True
    for i in range(1, len(starts)):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        if text[starts[i] : end].rstrip() in closers:
            return end, True
    return len(text), False


class _Reading:
    """One parse of a region: block tokens -> projected text, cut into segments.

    A region that continues a table is parsed after the table's header and delimiter
    lines (`context`), which are parsed but not projected. Long tables are cut every
    `table_rows` body rows: each such segment carries the header it continues.
    """

    def __init__(self, lang: Markdown, text: str, starts: list[int], shift: int, context: str | None) -> None:
        self.lang = lang
        self.nodes = lang.nodes
        self.text = text
        self.starts = starts  # line starts of the context and the region
        self.shift = shift  # where the region starts in `text`
        self.out = SegmentBuilder()
        self.contexts: list[str | None] = [context]  # what each segment continues
        self.cuts: list[tuple[int, SegmentBuilder]] = []  # (where a segment ends, what it holds)
        self.row = (-1, 0)  # the table row read last, and where in its line its last cell ended
        self.last_line = (-1, "")  # (line, its text) of the last `line_text`

    # -- lines ------------------------------------------------------------------------

    def line_start(self, line: int) -> int:
        return self.starts[line] if line < len(self.starts) else len(self.text)

    def line_text(self, line: int) -> str:
        """The line's content, without its line break (the last one asked for is kept: a
        table row's cells all ask for their line)."""
        if self.last_line[0] != line:
            a = self.line_start(line)
            b = self.line_start(line + 1)
            self.last_line = (line, self.text[a:b].rstrip("\n"))
        return self.last_line[1]

    def line_of(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1 if offset < len(self.text) else len(self.starts)

    # -- blocks -----------------------------------------------------------------------

    def run(self, body: int, probe: str, probe_context: str | None) -> bool:
        """Project the region's blocks; whether the probe line starts afresh (or continues
        the table `probe_context` names)."""
        parsed_from = self.line_of(body) if body else 0  # lines of `tokens` count from here
        first_line = self.line_of(max(body, self.shift))  # the region's first line
        region = self.text[body:]
        probe_line = None
        if probe:
            probe_line = len(self.starts)
            region += normalize(probe)
        tokens = self.lang.md.parse(region, {"references": AnyReference()})
        closed = probe_line is None
        ignored = 0  # depth of containers whose mode is "ignore"
        stack: list[str | None] = []
        table, in_body, rows, row_line, line = None, False, 0, 0, 0  # table: the open top-level table's header lines
        for token in tokens:
            if token.map is not None:
                line = token.map[0] + parsed_from
                if probe_line is not None and line >= probe_line:
                    if probe_context is None:
                        closed = token.level == 0 and line == probe_line
                    elif token.type == "tbody_open":
                        continue
                    else:
                        closed = token.type == "tr_open" and in_body and line == probe_line and table == probe_context
                    break
                if token.level == 0 and line > first_line and self.lang.may_cut(self.text, self.line_start(line)):
                    self.cut(self.line_start(line), None)
            if token.type == "table_open" and token.level == 0:
                table = self.text[self.line_start(line) : self.line_start(line + 2)]
                rows = 0
            elif token.type in ("tbody_open", "tbody_close") and token.level == 1 and table is not None:
                in_body = token.type == "tbody_open"
            elif token.type == "tr_open":
                row_line = line
                if in_body and token.level == 2:
                    if rows and rows % self.lang.table_rows == 0 and line > first_line:
                        self.cut(self.line_start(line), table)
                    rows += 1
            if token.nesting == 1:
                kind = _container_kind(token)
                stack.append(kind)
                if ignored or (kind and self.nodes[kind] == "ignore"):
                    ignored += 1
                elif kind and self.nodes[kind] == "placeholder" and kind in ("table", "blockquote", "list"):
                    ignored += 1
                    if line >= first_line:
                        self.out.synth(PLACEHOLDER + "\n\n", self.line_start(line))
                continue
            if token.nesting == -1:
                if ignored:
                    ignored -= 1
                elif token.type == "tr_close" and row_line >= first_line:
                    self.out.synth("\n", self.line_start(row_line + 1) - 1)  # a row reads as a paragraph
                if stack:
                    stack.pop()
                if token.type == "table_close" and token.level == 0:
                    table, in_body = None, False
                continue
            if ignored or line < first_line:
                continue
            if token.type == "inline":
                self.inline(token, stack, parsed_from)
            elif token.type in ("fence", "code_block"):
                self.opaque(token, "code_block", parsed_from)
            elif token.type == "html_block":
                self.opaque(token, "html", parsed_from)
        return closed

    def cut(self, offset: int, context: str | None) -> None:
        self.cuts.append((offset, self.out))
        self.contexts.append(context)
        self.out = SegmentBuilder()

    def segments(self, length: int) -> list[Segment]:
        bounds = [self.shift] + [c[0] for c in self.cuts] + [self.shift + length]
        builders = [c[1] for c in self.cuts] + [self.out]
        out = []
        for a, b, builder, context in zip(bounds, bounds[1:], builders, self.contexts):
            seg = builder.build(b - a, context)
            seg.src = [s - a for s in seg.src]
            out.append(seg)
        return out

    def opaque(self, token: Token, kind: str, first_line: int) -> None:
        """A code or HTML block: dropped, a placeholder, or read as it is."""
        assert token.map is not None  # block-level tokens carry their lines
        mode = self.nodes[kind]
        a = self.line_start(token.map[0] + first_line)
        if mode == "placeholder":
            self.out.synth(PLACEHOLDER + "\n\n", a)
        elif mode == "keep" and token.content.strip():
            first = token.map[0] + first_line + (1 if token.type == "fence" else 0)
            lines = range(first, first + token.content.count("\n"))  # the body, not the fences
            for line in lines:
                s = self.line_start(line)
                self.out.copy(self.text[s : self.line_start(line + 1)], s)
            if not self.out.ends_with("\n"):
                self.out.synth("\n", self.line_start(token.map[1] + first_line))
            self.out.synth("\n", self.line_start(token.map[1] + first_line))

    # -- inline content ---------------------------------------------------------------

    def inline(self, token: Token, stack: list[str | None], first_line: int) -> None:
        assert token.map is not None  # block-level tokens carry their lines
        kind = "table" if "table" in stack else "heading" if stack and stack[-1] == "heading" else None
        if kind == "heading" and self.nodes["heading"] != "keep":
            if self.nodes["heading"] == "placeholder":
                self.out.synth(PLACEHOLDER + "\n\n", self.line_start(token.map[0] + first_line))
            return
        content = token.content
        if not content.strip():
            return
        line = token.map[0] + first_line
        after = self.row[1] if kind == "table" and self.row[0] == line else 0
        origin = _Origin(self, content, line, cell=kind == "table", after=after)
        if kind == "table":
            self.row = (line, origin.cell_end)
        _inline(self.lang, content, origin, self.out)
        end = origin.end()
        self.out.synth("\n" if kind == "table" else "\n\n", end)  # a table's rows end at tr_close


def _container_kind(token: Token) -> str | None:
    return {
        "table_open": "table",
        "blockquote_open": "blockquote",
        "bullet_list_open": "list",
        "ordered_list_open": "list",
        "heading_open": "heading",
    }.get(token.type)


class _Origin:
    """Where each character of a block's inline content sits in the region's source.

    The content is cut into pieces, each at a constant shift from the source: one per
    line, and in a table cell one more after each `|`, which the source escapes (`\\|`:
    the table rule drops the backslash). A cell is looked for in its row after `after`,
    where the cell before it ended (`cell_end`): cells alike map to their own source, and
    a row of many cells is read in time linear in its length."""

    def __init__(self, reading: _Reading, content: str, line: int, cell: bool, after: int = 0) -> None:
        self.content_starts: list[int] = []  # start of each piece in `content`
        self.shift: list[int] = []  # source offset minus content offset, per piece
        self.line_ends: list[int] = []  # source offset of the break of each piece's line
        self.cell_end = after  # in a cell: where it ends in its line
        pos = 0
        for k, piece in enumerate(content.split("\n")):
            src_line = reading.line_text(line + k) if line + k < len(reading.starts) else ""
            base = reading.line_start(line + k)
            core = piece.strip()
            lead = len(piece) - len(piece.lstrip())
            written = core.replace("|", "\\|") if cell else core  # the cell as the source writes it
            at = -1
            if core and cell:
                at = src_line.find(written, after)
            elif core:
                trimmed = src_line.rstrip()
                at = len(trimmed) - len(core) if trimmed.endswith(core) else src_line.find(core)
            if at < 0:
                at, written = len(src_line) - len(src_line.lstrip()), core
            self.content_starts.append(pos)
            self.shift.append(base + at - (pos + lead))
            self.line_ends.append(base + len(src_line))
            if written != core:
                for j, r in enumerate(i for i, ch in enumerate(core) if ch == "|"):
                    self.content_starts.append(pos + lead + r)
                    self.shift.append(base + at + j + 1 - (pos + lead))
                    self.line_ends.append(base + len(src_line))
            self.cell_end = at + len(written)
            pos += len(piece) + 1

    def source(self, offset: int) -> int:
        k = bisect_right(self.content_starts, offset) - 1
        return offset + self.shift[k]

    def pieces(self, a: int, b: int) -> list[tuple[int, int]]:
        """[a, b) cut where the shift to the source changes."""
        cuts = self.content_starts[bisect_right(self.content_starts, a) : bisect_left(self.content_starts, b)]
        bounds = [a, *cuts, b]
        return list(zip(bounds, bounds[1:]))

    def line_end(self, offset: int) -> int:
        return self.line_ends[bisect_right(self.content_starts, offset) - 1]

    def end(self) -> int:
        return self.line_ends[-1]


def _inline(lang: Markdown, content: str, origin: _Origin, out: SegmentBuilder) -> None:
    """Project one inline string: copy the source between the spans markup rules consumed."""
    nodes = lang.nodes
    if not INLINE_MARKUP.search(content):  # plain text (most table cells, many lines): no inline parse
        _copy(content, 0, len(content), origin, out, nodes["url"])
        return
    recorder = Recorder(content)
    tokens: list[Token] = []
    env = {"references": AnyReference(), RECORDER: recorder}
    lang.md.inline.parse(content, lang.md, env, tokens)
    spans: list[tuple[int, int, str | None]] = []  # (start, end, replacement or None to drop)

    def drop(a: int, b: int) -> None:
        if a < b:
            spans.append((a, b, None))

    def by_mode(kind: str, a: int, b: int, keep: tuple[int, int] | None) -> bool:
        mode = nodes[kind]
        if mode == "ignore":
            drop(a, b)
        elif mode == "placeholder":
            spans.append((a, b, PLACEHOLDER))
        elif keep is not None:
            drop(a, keep[0])
            drop(keep[1], b)
        return mode == "keep"

    helpers = lang.md.helpers
    for e in recorder.events:
        a, b = e.start, e.end
        types = [t.type for t in e.tokens]
        if e.rule == "newline":
            drop(a + 1, b)
        elif e.rule == "escape":
            if "hardbreak" in types:
                drop(a, a + 1)
                drop(a + 2, b)
            elif e.tokens and e.tokens[-1].content == content[a + 1 : b]:
                drop(a, a + 1)
        elif e.rule == "backticks" and "code_inline" in types:
            marker = len(e.tokens[-1].markup)
            by_mode("code_inline", a, b, (a + marker, b - marker))
        elif e.rule in ("emphasis", "strikethrough"):
            spans.extend(_delimiters(e))
        elif e.rule == "link" and "link_open" in types:
            end = helpers.parseLinkLabel(StateInline(content, lang.md, env, []), a, True)
            by_mode("link", a, b, (a + 1, end if end > a else a + 1))
        elif e.rule == "image" and "image" in types:
            end = helpers.parseLinkLabel(StateInline(content, lang.md, env, []), a + 1, False)
            by_mode("image", a, b, (a + 2, end if end > a else a + 2))
        elif e.rule == "autolink" and "link_open" in types:
            by_mode("autolink", a, b, (a + 1, b - 1))
        elif e.rule == "html_inline" and "html_inline" in types:
            by_mode("html", a, b, (a, b))
        elif e.rule == "entity" and e.tokens and e.tokens[-1].content != content[a:b]:
            spans.append((a, b, e.tokens[-1].content))
    spans.sort(key=lambda s: (s[0], -s[1]))
    cursor = 0
    for a, b, replacement in spans:
        if a < cursor:
            continue  # inside a span already dropped or replaced
        _copy(content, cursor, a, origin, out, nodes["url"])
        if replacement:
            out.synth(replacement, origin.source(a))
        cursor = b
    _copy(content, cursor, len(content), origin, out, nodes["url"])


def _delimiters(e: Event) -> list[tuple[int, int, None]]:
    """Emphasis and strikethrough markers that became markup (unmatched ones stay text)."""
    spans, pos, total = [], e.end, 0
    for token, length in zip(reversed(e.tokens), reversed(e.lengths)):
        if total >= e.end - e.start:
            break
        pos -= length
        total += length
        if token.type != "text" or not token.content:
            spans.append((pos, pos + length, None))
    return spans


def _copy(content: str, a: int, b: int, origin: _Origin, out: SegmentBuilder, url_mode: str) -> None:
    """Copy content[a:b] into the projection, line by line and piece by piece, dropping bare URLs."""
    while a < b:
        nl = content.find("\n", a, b)
        stop = b if nl < 0 else nl
        for x, y in origin.pieces(a, stop):
            _copy_line(content, x, y, origin, out, url_mode)
        if nl < 0:
            return
        out.copy("\n", origin.line_end(nl))
        a = nl + 1


def _copy_line(content: str, a: int, b: int, origin: _Origin, out: SegmentBuilder, url_mode: str) -> None:
    if url_mode != "keep":
        for m in URL.finditer(content, a, b):
            out.copy(content[a : m.start()], origin.source(a))
            if url_mode == "placeholder":
                out.synth(PLACEHOLDER, origin.source(m.start()))
            a = m.end()
    out.copy(content[a:b], origin.source(a))
