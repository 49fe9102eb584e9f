"""LaTeX -> prose: a masker, not a TeX engine.

It drops comments, math (`$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]` and math environments),
`\\verb`, verbatim-like environments, command names and the arguments of commands that
hold no prose (`\\label`, `\\usepackage`, ...), keeps the text arguments of the rest
(`\\section{...}`, `\\emph{...}`, `\\caption{...}`, unknown commands), and replaces inline
math and citations by a placeholder word so sentences stay fluent (as LTeX does). What a
command or environment becomes is a setting: `ignore` (dropped with its arguments),
`placeholder`, `keep` (its text arguments read).

Linear time, unclosed groups included: where a group, an optional argument, math or a
`\\verb` closes is looked up, never searched for to the end of the paragraph from every
opener (50,000 unclosed `\\cite{` would cost 50,000 searches): the masker pairs every
brace of its text in one pass, and finds the next `]`, `$`, `\\)` or line break by
bisection in their positions, listed once.

Locality, for the incremental projection: every construct except an environment ends
before the next blank line (TeX itself rejects a paragraph break inside math or a
command's argument; here an unclosed one simply loses its meaning), so a line after a
blank line starts a segment unless a dropped environment is still open there.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import cached_property

from .projection import LINE, MODES, PLACEHOLDER, Region, Segment, SegmentBuilder, previous_line_blank

# command -> (mode, arguments it takes before any text: dropped with it, or skipped before its text)
COMMANDS: dict[str, str] = {
    **{
        c: "ignore"
        for c in (
            "documentclass",
            "usepackage",
            "RequirePackage",
            "label",
            "includegraphics",
            "input",
            "include",
            "bibliography",
            "bibliographystyle",
            "newcommand",
            "renewcommand",
            "providecommand",
            "newenvironment",
            "renewenvironment",
            "setlength",
            "addtolength",
            "setcounter",
            "addtocounter",
            "vspace",
            "hspace",
            "hypersetup",
            "graphicspath",
            "pagestyle",
            "thispagestyle",
            "definecolor",
            "url",
            "nocite",
            "DeclareMathOperator",
            "newtheorem",
            "geometry",
            "addbibresource",
            "bibitem",
            "color",
            "pagenumbering",
            "fontsize",
            "linespread",
            "usetikzlibrary",
            "captionsetup",
            "lstset",
            "renewrobustcmd",
        )
    },
    **{
        c: "placeholder"
        for c in (
            "cite",
            "citep",
            "citet",
            "parencite",
            "textcite",
            "autocite",
            "footcite",
            "citeauthor",
            "citeyear",
            "ref",
            "eqref",
            "pageref",
            "cref",
            "Cref",
            "autoref",
            "nameref",
            "vref",
        )
    },
}
ARITY = {
    "newcommand": 2,
    "renewcommand": 2,
    "providecommand": 2,
    "newenvironment": 3,
    "renewenvironment": 3,
    "setlength": 2,
    "addtolength": 2,
    "setcounter": 2,
    "addtocounter": 2,
    "definecolor": 3,
    "fontsize": 2,
    "newtheorem": 2,
    "DeclareMathOperator": 2,
    "href": 1,
    "textcolor": 1,
    "colorbox": 1,
}  # for a kept command: arguments before its text
ENVIRONMENTS: dict[str, str] = {
    **{
        e: "ignore"
        for base in (
            "equation",
            "align",
            "gather",
            "multline",
            "eqnarray",
            "flalign",
            "alignat",
            "math",
            "displaymath",
            "verbatim",
            "Verbatim",
            "lstlisting",
            "minted",
            "comment",
            "tikzpicture",
            "filecontents",
        )
        for e in (base, base + "*")
    },
}
ENV_ARGS = {
    "tabular": 1,
    "tabular*": 2,
    "tabularx": 2,
    "array": 1,
    "minipage": 1,
    "multicols": 1,
    "wrapfigure": 2,
    "thebibliography": 1,
}  # arguments after \begin{..} that hold no prose

WORD = re.compile(r"[A-Za-z@]+")
BRACE = re.compile(r"\\.|[{}]", re.DOTALL)  # a brace, or an escaped character (which is none)
BREAK = re.compile(r"[\r\n]")
PLAIN = re.compile(r"[^\\%${}~&\r\n]+|\r\n|\r|\n")
SPECIAL = {"%", "&", "$", "#", "_", "{", "}", " "}


class Latex:
    """The LaTeX language of the incremental projection."""

    def __init__(self, commands: dict[str, str] | None = None, environments: dict[str, str] | None = None) -> None:
        self.commands = {**COMMANDS, **_names(commands)}
        self.environments = {**ENVIRONMENTS, **(environments or {})}

    def may_cut(self, source: str, offset: int) -> bool:
        return offset == 0 or previous_line_blank(source, offset)

    def may_join(self, source: str, offset: int) -> bool:
        """After a blank line nothing but an open environment goes on (and that keeps the segment whole)."""
        return not self.may_cut(source, offset)

    def project(
        self, source: str, at_start: bool, probe: str, context: str | None = None, probe_context: str | None = None
    ) -> Region:
        return _Masker(self, source).run()


def _names(commands: dict[str, str] | None) -> dict[str, str]:
    """Accept `\\name`, `name` and LTeX's `\\name{}` spellings."""
    out = {}
    for key, mode in (commands or {}).items():
        name = key.lstrip("\\").split("{")[0].split("[")[0]
        if name and mode in MODES:
            out[name] = mode
    return out


class _Masker:
    def __init__(self, lang: Latex, text: str) -> None:
        self.lang = lang
        self.text = text
        self.n = len(text)
        self.out = SegmentBuilder()
        self.done: list[tuple[int, SegmentBuilder]] = []
        self.cuts, self.ends = [], []  # lines after a blank line; where each paragraph ends
        blank = False
        for m in LINE.finditer(text):
            if m.start() >= self.n:
                break
            if blank and m.start() > 0:
                self.cuts.append(m.start())
            was, blank = blank, not m.group().strip(" \t\r\n")
            if blank and not was and m.start() > 0:
                self.ends.append(m.start() - 1)
        self.closed = True
        self._closers: dict[tuple[str, bool], list[int]] = {}

    # -- driver ----------------------------------------------------------------------------

    def run(self) -> Region:
        pos, c = 0, 0
        while pos < self.n:
            while c < len(self.cuts) and self.cuts[c] < pos:
                c += 1  # inside something that was consumed: not a cut
            if c < len(self.cuts) and self.cuts[c] == pos:
                self.done.append((pos, self.out))
                self.out = SegmentBuilder()
                c += 1
            pos = self.step(pos)
        return Region(self._segments(), self.closed)

    def _segments(self) -> list[Segment]:
        bounds = [0] + [p for p, _ in self.done] + [self.n]
        builders = [b for _, b in self.done] + [self.out]
        out = []
        for a, b, builder in zip(bounds, bounds[1:], builders):
            seg = builder.build(b - a)
            seg.src = [s - a for s in seg.src]
            out.append(seg)
        return out

    def limit(self, pos: int) -> int:
        """Where the paragraph at `pos` ends: constructs other than environments stop there."""
        i = bisect_left(self.ends, pos)
        return self.ends[i] if i < len(self.ends) else self.n

    # -- where things close: found once for the whole text -------------------------------------

    @cached_property
    def closing(self) -> dict[int, int]:
        """For each brace `{` that is not escaped, where its matching `}` is (unmatched ones absent)."""
        closing, open_at = {}, []
        for m in BRACE.finditer(self.text):
            ch = m.group()
            if ch == "{":
                open_at.append(m.start())
            elif ch == "}" and open_at:
                closing[open_at.pop()] = m.start()
        return closing

    @cached_property
    def line_breaks(self) -> list[int]:
        return [m.start() for m in BREAK.finditer(self.text)]

    def _occurrences(self, closer: str, escaped: bool) -> list[int]:
        """Where `closer` occurs (overlapping), those after a backslash too if `escaped`;
        listed once per closer."""
        found = self._closers.get((closer, escaped))
        if found is None:
            at = re.compile("(?=" + re.escape(closer) + ")")
            found = [
                m.start()
                for m in at.finditer(self.text)
                if escaped or (m.start() > 0 and self.text[m.start() - 1] != "\\")
            ]
            self._closers[closer, escaped] = found
        return found

    def _find_closing(self, closer: str, start: int, limit: int, escaped: bool = False) -> int:
        """The first `closer` in [start, limit) not preceded by a backslash (any, if
        `escaped`), or -1."""
        found = self._occurrences(closer, escaped)
        i = bisect_left(found, start)
        return found[i] if i < len(found) and found[i] + len(closer) <= limit else -1

    def _line_end(self, pos: int) -> int:
        """The offset of the line break that ends the line at `pos` (the text's end on the last line)."""
        i = bisect_left(self.line_breaks, pos)
        return self.line_breaks[i] if i < len(self.line_breaks) else self.n

    # -- one construct ----------------------------------------------------------------------

    def step(self, pos: int) -> int:
        text, ch = self.text, self.text[pos]
        if ch == "%":
            return self.comment(pos)
        if ch == "\\":
            return self.command(pos)
        if ch == "$":
            return self.dollar(pos)
        if ch in "{}&":
            return pos + 1
        if ch == "~":
            self.out.synth(" ", pos)
            return pos + 1
        m = PLAIN.match(text, pos)
        assert m is not None  # every character left is plain text or a line break
        self.out.copy(m.group(), pos)
        return m.end()

    def comment(self, pos: int) -> int:
        """To the end of the line; a line holding only a comment goes whole, its break too."""
        end = pos
        while end < self.n and self.text[end] not in "\r\n":
            end += 1
        line_start = pos
        while line_start > 0 and self.text[line_start - 1] in " \t":
            line_start -= 1
        if line_start == 0 or self.text[line_start - 1] in "\r\n":
            if end < self.n:
                end += 2 if self.text.startswith("\r\n", end) else 1
        return end

    def dollar(self, pos: int) -> int:
        display = self.text.startswith("$$", pos)
        opener = "$$" if display else "$"
        close = self._find_closing(opener, pos + len(opener), self.limit(pos))
        if close < 0:
            return pos + len(opener)
        if not display:
            self.out.synth(PLACEHOLDER, pos)
        return close + len(opener)

    def command(self, pos: int) -> int:
        text = self.text
        if pos + 1 >= self.n:
            return pos + 1
        m = WORD.match(text, pos + 1)
        if not m:  # a one-character command
            ch = text[pos + 1]
            if ch in SPECIAL:
                self.out.copy(ch, pos + 1)
            elif ch == "\\":
                self.out.synth("\n", pos)
            elif ch == "(":
                close = self._find_closing("\\)", pos + 2, self.limit(pos))
                if close >= 0:
                    self.out.synth(PLACEHOLDER, pos)
                    return close + 2
            elif ch == "[":
                close = self._find_closing("\\]", pos + 2, self.limit(pos))
                if close >= 0:
                    return close + 2
            elif ch in "\r\n":
                return pos + 1
            return pos + 2
        name, end = m.group(), m.end()
        if name == "verb":
            return self.verb(pos, end)
        if name == "begin":
            return self.begin(pos, end)
        if name == "end":
            group = self._group(end, self.limit(pos))
            return group[1] if group else end
        if end < self.n and text[end] == "*":
            end += 1
        mode = self.lang.commands.get(name, "keep")
        if mode == "keep":
            end = self._options(end)
            for _ in range(ARITY.get(name, 0)):
                end = self._skip_argument(end)
            return end
        if mode == "placeholder":
            self.out.synth(PLACEHOLDER, pos)
        end = self._options(end)
        for _ in range(ARITY.get(name, 1)):
            end = self._options(self._skip_argument(end))
        return end

    def verb(self, pos: int, end: int) -> int:
        if end < self.n and self.text[end] == "*":
            end += 1
        if end >= self.n or self.text[end] in "\r\n":
            return end
        delim = self.text[end]
        close = self.text.find(delim, end + 1, self._line_end(end))
        if close < 0:
            return end
        self.out.synth(PLACEHOLDER, pos)
        return close + 1

    def begin(self, pos: int, end: int) -> int:
        group = self._group(end, self.limit(pos))
        if group is None:
            return end
        name = self.text[group[0] + 1 : group[1] - 1].strip()
        mode = self.lang.environments.get(name, "keep")
        after = group[1]
        if mode == "keep":
            after = self._options(after)
            for _ in range(ENV_ARGS.get(name, 0)):
                after = self._options(self._skip_argument(after))
            return after
        closing = re.compile(r"\\end\s*\{\s*" + re.escape(name) + r"\s*\}")
        m = closing.search(self.text, after)
        if mode == "placeholder":
            self.out.synth(PLACEHOLDER + "\n", pos)
        if m is None:
            self.closed = False  # open to the end of this region: the region must grow
            return self.n
        return m.end()

    # -- arguments ---------------------------------------------------------------------------

    def _spaces(self, pos: int) -> int:
        while pos < self.n and self.text[pos] in " \t":
            pos += 1
        return pos

    def _options(self, pos: int) -> int:
        """Skip optional arguments `[...]` (within the paragraph)."""
        while True:
            p = self._spaces(pos)
            if p >= self.n or self.text[p] != "[":
                return pos
            close = self._find_closing("]", p, self.limit(p), escaped=True)
            if close < 0:
                return pos
            pos = close + 1

    def _skip_argument(self, pos: int) -> int:
        p = self._spaces(pos)
        group = self._group(p, self.limit(p))
        if group is not None:
            return group[1]
        if p < self.n and self.text[p] == "\\":  # \newcommand\foo{...}: a command as the argument
            m = WORD.match(self.text, p + 1)
            return m.end() if m else p
        return pos

    def _group(self, pos: int, limit: int) -> tuple[int, int] | None:
        """[start, end) of a balanced {...} group at `pos` ending before `limit`, else None
        (the masker asks only at braces that are not escaped: none follows a backslash)."""
        pos = self._spaces(pos)
        if pos >= limit or self.text[pos] != "{":
            return None
        close = self.closing.get(pos, limit)
        return (pos, close + 1) if close < limit else None
