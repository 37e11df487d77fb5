"""Split a message's markdown into prose and fenced code blocks (pure; no Qt).

Prose goes to Qt's own markdown renderer (GitHub dialect: headings, lists, tables, inline
code); each fenced code block gets its own monospace widget with a Copy button. The split
also works on text that is still streaming: an unclosed fence is a code block in progress.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Segment:
    kind: Literal["markdown", "code"]
    text: str
    lang: str = ""
    closed: bool = True


def _closes(line: str, char: str, length: int) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return indent <= 3 and len(stripped) >= length and set(stripped) == {char}


def split_markdown(text: str) -> list[Segment]:
    """Prose and fenced code blocks, in order. Whitespace-only prose is dropped."""
    segments: list[Segment] = []
    prose: list[str] = []
    code: list[str] = []
    fence: tuple[str, int, int, str] | None = None  # char, length, indent, language

    def flush_prose() -> None:
        body = "\n".join(prose)
        if body.strip():
            segments.append(Segment("markdown", body.strip("\n")))
        prose.clear()

    for line in text.split("\n"):
        if fence is None:
            m = _OPEN.match(line)
            info = m.group("info") if m else ""
            if m and not (m.group("fence")[0] == "`" and "`" in info):
                flush_prose()
                words = info.strip().split()
                marker = m.group("fence")
                fence = (marker[0], len(marker), len(m.group("indent")), words[0] if words else "")
                code.clear()
            else:
                prose.append(line)
        else:
            char, length, indent, lang = fence
            if _closes(line, char, length):
                segments.append(Segment("code", "\n".join(code), lang, closed=True))
                fence = None
            else:
                strip = min(indent, len(line) - len(line.lstrip(" ")))
                code.append(line[strip:])
    if fence is not None:
        segments.append(Segment("code", "\n".join(code), fence[3], closed=False))
    else:
        flush_prose()
    return segments


def split_streaming(segments: list[Segment]) -> list[Segment]:
    """Segments for an answer still being written: its last prose segment is cut at its last
    blank line, so the paragraphs before it are rendered once and only the paragraph being
    written is rendered again as tokens arrive (rendering the whole answer each time grew
    with its length, and held the GIL the engine thread needs). The finished answer is
    rendered whole: a list or table cut in two here is whole again then."""
    if not segments or segments[-1].kind != "markdown":
        return segments
    text = segments[-1].text
    body = text.rstrip()  # a paragraph just ended: keep the cut before it until more comes
    cut = body.rfind("\n\n")
    if cut <= 0:
        return segments
    head, tail = body[:cut].rstrip("\n"), text[cut:].strip("\n")
    if not head.strip() or not tail.strip():
        return segments
    return [*segments[:-1], Segment("markdown", head), Segment("markdown", tail)]
