"""What a reader of a Markdown file sees, as text to index and quote (pure; no imports but
`re`). Rendered Markdown shows neither HTML comments ("<!-- YAML added: v0.1.16 -->" before
every entry of Node.js's API docs) nor a link's target: "[the streaming
reference](references/streaming.md)" reads "the streaming reference", and a link reference
definition ("[`fs.ReadStream`]: fs.md#class-fsreadstream") is not shown at all. Left in,
they were quoted as such, and their words (file names, URL fragments) counted as the
passage's for both indexes. Code is left as written: fenced blocks and `code spans`.

Markdown's full grammar is not parsed (markdown-it-py and the like give tokens without
their place in the source, and everything else here, headings, lists and fences, must stay
as written for `rag.sentences` and `rag.sections`): inline links, images, full and collapsed
reference links and autolinks are rewritten by the patterns below, the rest is kept.
"""

from __future__ import annotations

import re

_FENCE = r"[ \t]*(?:```|~~~)"  # a line that opens or closes a fenced code block
_FENCE_LINE = re.compile(rf"^{_FENCE}.*$", re.MULTILINE)
_FENCE_START = re.compile(_FENCE)
_BACKTICKS = re.compile(r"`+")
_LABEL = r"[^\[\]\n]*(?:\[[^\[\]\n]*\][^\[\]\n]*)*"  # one level of brackets inside
_DEST = r"(?:<[^<>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
_TITLE = r"""(?:\s+(?:"[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?"""
_INLINE_LINK = re.compile(rf"!?\[({_LABEL})\]\(\s*{_DEST}{_TITLE}\s*\)")
_REFERENCE_LINK = re.compile(rf"!?\[({_LABEL})\]\[[^\[\]\n]*\]")
# Strong emphasis: "**apt-get** for retrieval" reads "apt-get for retrieval". Single * and _
# stay (globs such as *.txt, snake_case names written outside code) ...
_STRONG = re.compile(
    r"\*\*(?=[^\s*])([^*\n]*[^\s*])\*\*|(?<!\w)__(?=[^\s_])([^_\n]*[^\s_])__(?!\w)"
)
# ... but around words, from a letter to a letter or a sentence's end, with no word right
# outside: "_Black_ will try" (Black's docs name their tool so), "is *not* kept". Not
# "my_var_name", "*.txt", "src/*", "__init__".
_EMPHASIS = re.compile(
    r"(?<![\w*/\\])\*([A-Za-z][^*\n]*?[A-Za-z.!?):])\*(?![\w*])"
    r"|(?<![\w/\\])_([A-Za-z][^_\n]*?[A-Za-z.!?):])_(?!\w)"
)
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^\s<>]+)>")
# A table of contents' entry: a list item that is only a link to a heading of the same file
# ("  * [Install Python build dependencies](#d-install-python-build-dependencies)"). It is
# navigation, not text: read as its words, it was quoted as a sentence of its own.
_CONTENTS_ENTRY = re.compile(
    rf"^[ \t]*(?:[-*+]|\d{{1,3}}[.)])[ \t]+(?:\*\*)?\[{_LABEL}\]\(#[^\s()]*\)(?:\*\*)?"
    r"[ \t]*(?:\n|$)",
    re.MULTILINE,
)
_DEFINITION = re.compile(
    r"^ {0,3}\[(?!\^)[^\[\]\n]+\]:[ \t]*\S+(?:[ \t]+[\"'(].*)?\n?", re.MULTILINE
)
# A footnote (GitHub's "[^6]: Binaries produced on ..." and its mark "Experimental[^6]"): its
# text is text, the marks are not. Read as a link definition, the footnote lost its first word.
_FOOTNOTE_MARK = re.compile(r"^( {0,3})\[\^[^\[\]\s]+\]:[ \t]*|\[\^[^\[\]\s]+\]", re.MULTILINE)
# A backslash escape outside code: rendered Markdown shows the character alone, so
# "{string\\[]}" reads "{string[]}", and "\\[not a link\\]" is no link.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n((?:.*\n){0,200}?)(?:---|\.\.\.)[ \t]*(?:\n|\Z)")
_UNDERLINE = re.compile(r" {0,3}(={2,}|-{2,})[ \t]*")
_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
_TOP_HEADING = re.compile(r" {0,3}#(?:[ \t]|$)")
_NOT_A_TITLE = re.compile(r"\s*(?:#|>|\||[-*+]\s|\d+[.)]\s)|\s*$")


def read_markdown(markdown: str) -> str:
    """The Markdown as a reader sees its words: HTML comments, link targets and link
    reference definitions gone outside code (see the module docstring), and a table of
    contents' entries (list items that only link to a heading of the file); every heading
    written as "## Title", the heading `rag.sentences` and `rag.sections` know (they have no
    use for levels): a title underlined with === or --- (a "setext" heading, as READMEs often
    have) and a top-level "# Title" (which, in a text of any other kind, may be a root
    prompt: "# apt-get install x"); thematic breaks and
    the lines that fence YAML front matter gone (they are no words, and were glued to the
    next sentence: "------------APT is maintained in git")."""
    markdown = _FRONT_MATTER.sub(r"\1", markdown)
    markdown, marks = _marks(markdown)
    parts = _FENCE_LINE.split(markdown)
    fences = _FENCE_LINE.findall(markdown)
    out, inside = [], False
    for i, part in enumerate(parts):
        out.append(part if inside else _prose(part, marks))
        if i < len(fences):
            out.append(fences[i])
            inside = not inside
    return "".join(out)


def is_fence(line: str) -> bool:
    """Whether a line opens or closes a fenced code block (``` or ~~~, maybe indented): the
    one test of it for reading Markdown, tidying its whitespace and splitting sentences."""
    return _FENCE_START.match(line) is not None


def code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each `code span`: a run of backticks to the next run of the same
    length (CommonMark's rule). Linear: a regex that looks ahead for the closing run from
    every opening one takes quadratic time on text full of unmatched backticks."""
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    following: list[int | None] = [None] * len(runs)
    last: dict[int, int] = {}  # run length -> index of the next run of that length
    for i in range(len(runs) - 1, -1, -1):
        n = runs[i][1] - runs[i][0]
        following[i] = last.get(n)
        last[n] = i
    spans, i = [], 0
    while i < len(runs):
        j = following[i]
        if j is None:
            i += 1
            continue
        spans.append((runs[i][0], runs[j][1]))
        i = j + 1
    return spans


def drop_comments(text: str) -> str:
    """Text without its <!-- HTML comments -->; an unclosed one stays as text. Linear (a
    lazy regex looks for the end of every unclosed opening to the end of the text)."""
    out, at = [], 0
    while (start := text.find("<!--", at)) >= 0:
        end = text.find("-->", start + 4)
        if end < 0:
            break
        out.append(text[at:start])
        at = end + 3
    return "".join(out) + text[at:]


def _marks(text: str) -> tuple[str, str]:
    """The text, and two private-use characters it does not hold, to stand for a code span
    while the words around it are rewritten. Fixed ones would let a file that holds them
    swap another span's text in, or crash the reading with an index no span has. A text
    that holds every private-use character of the BMP loses the first two (read as U+FFFD)."""
    first, second = "\ue000", "\ue001"
    if first not in text and second not in text:
        return text, first + second
    held = set(text)
    free = [c for c in map(chr, range(0xE000, 0xF900)) if c not in held]
    if len(free) >= 2:
        return text, free[0] + free[1]
    return text.replace(first, "\ufffd").replace(second, "\ufffd"), first + second


def _prose(text: str, marks: str) -> str:
    text = drop_comments(text)
    spans: list[str] = []
    pieces, at = [], 0
    for start, end in code_spans(text):
        spans.append(text[start:end])
        pieces += [text[at:start], f"{marks[0]}{len(spans) - 1}{marks[1]}"]
        at = end
    text = "".join(pieces) + text[at:]

    def keep(m: re.Match[str]) -> str:  # an escaped character: no Markdown, and shown alone
        spans.append(m.group(1))
        return f"{marks[0]}{len(spans) - 1}{marks[1]}"

    text = _ESCAPED.sub(keep, text)
    text = _FOOTNOTE_MARK.sub(lambda m: m.group(1) or "", text)
    text = _DEFINITION.sub("", text)
    text = _CONTENTS_ENTRY.sub("", text)
    text = _headings_and_breaks(text)
    for _ in range(2):  # a link inside a link's text: an image that links somewhere
        text = _INLINE_LINK.sub(r"\1", text)
        text = _REFERENCE_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _STRONG.sub(lambda m: m.group(1) or m.group(2), text)
    text = _EMPHASIS.sub(lambda m: m.group(1) or m.group(2), text)
    back = re.compile(f"{marks[0]}(\\d+){marks[1]}")
    return back.sub(lambda m: spans[int(m.group(1))], text)


def _headings_and_breaks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        underline = _UNDERLINE.fullmatch(line)
        title = out[-1] if out else ""
        if underline and not _NOT_A_TITLE.match(title):
            out[-1] = "## " + title.strip()
            continue
        if _TOP_HEADING.match(line):
            line = "#" + line.lstrip()
        if _BREAK.fullmatch(line):
            out.append("")
            continue
        out.append(line)
    return "\n".join(out)
