"""Passages that start and end with whole sentences. Pure (rag.search reads the chunks).

A chunk is cut where its token budget runs out, and a page break is one of the places where
that happens: bzip2's manual was quoted as "Files of less than about one hundred bytes tend to
get larger, since the compression mechanism has a constant overhead in the region of" (the
sentence goes on at the top of the next page, "50 bytes."), and a passage could open with
"allows tracing output to be separated from diagnostic and error messages." A retrieved
passage is widened, from the chunks before and after it, to the start of its first sentence
and the end of its last one (`missing_start`, `missing_end`), by at most EDGE_CHARS on each
side, so that a quote, and what the model reads, is the sentence as written. This happens
after ranking (`complete_edges` completes the two scored sentences): the passages are ranked
as indexed, and a sentence is scored as its chunk holds it.

The text on either side is taken from the neighbouring chunk by document offsets and checked
against the passage's own text where they overlap (`text_before`, `text_after`): when they do
not agree, nothing is added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rag.sentences import Sentence, split_sentences

if TYPE_CHECKING:
    from rag.evidence import ScoredSentence

EDGE_CHARS = 300  # the most characters added on either side of a passage
# Text that ends a sentence, as the splitter ends one (so a passage cut there is not widened:
# "in that order." followed by "a[,,] stands for ..." is two sentences the splitter cannot
# tell apart, as it cannot any sentence that starts with a plain lower-case word).
_ENDED = re.compile(r"[.!?:][\"'\u201d\u2019)\]]*$")
_CHECK = 24  # characters compared where a neighbour and the passage overlap


def text_before(start: int, head: str, prev_start: int, prev_text: str) -> str:
    """The document's text right before a passage that starts at document offset `start`
    with `head`, from the chunk before it (at `prev_start`); "" when they do not agree."""
    cut = start - prev_start
    if cut <= 0:
        return ""
    if cut > len(prev_text):  # a gap between the chunks: a page or paragraph break
        return prev_text + "\n\n"
    shared = prev_text[cut : cut + _CHECK]
    return prev_text[:cut] if head.startswith(shared) else ""


def text_after(end: int, tail: str, next_start: int, next_text: str) -> str:
    """The document's text right after a passage that ends at document offset `end` with
    `tail`, from the chunk after it (at `next_start`); "" when they do not agree."""
    cut = end - next_start
    if cut < 0:
        return "\n\n" + next_text
    if cut >= len(next_text):
        return ""
    shared = next_text[max(0, cut - _CHECK) : cut]
    return next_text[cut:] if tail.endswith(shared) else ""


def missing_start(before: str, text: str, limit: int = EDGE_CHARS) -> str:
    """The end of `before` that belongs to the first sentence of `text` ("" when `text`
    starts a sentence, or that sentence starts more than `limit` characters back)."""
    if not before or not text or _ENDED.search(before.rstrip()):
        return ""  # the passage starts where a sentence does (or the text before ends one)
    tail = before[-2 * limit :]
    s = _spanning(split_sentences(tail + text[:limit]), len(tail))
    if s is None or len(tail) - s.start > limit:
        return ""
    return tail[s.start :]


def missing_end(text: str, after: str, limit: int = EDGE_CHARS) -> str:
    """The start of `after` that belongs to the last sentence of `text` ("" when `text` ends
    a sentence, or that sentence does not end within `limit` characters)."""
    if not after or not text or _ENDED.search(text.rstrip()):
        return ""
    tail = text[-limit:]
    joined = tail + after[: 2 * limit]
    s = _spanning(split_sentences(joined), len(tail))
    if s is None or s.end - len(tail) > limit or s.end >= len(joined):
        return ""  # not prose, or not ended in sight
    return joined[len(tail) : s.end]


def _spanning(sentences: Sequence[Sentence], edge: int) -> Sentence | None:
    """The prose or list sentence that runs over offset `edge`, None if another kind does
    or none does."""
    for s in sentences:
        if s.start < edge < s.end:
            return s if s.kind in ("prose", "list") else None
    return None


def complete_edges(
    sentences: Sequence[ScoredSentence], text: str, prefix: str, suffix: str, first_page: int
) -> tuple[ScoredSentence, ...]:
    """A passage's scored sentences (as `split_sentences(text)` cut them) with its first one
    preceded by `prefix` (its start, from `first_page`) and its last one followed by `suffix`
    (its end), as `missing_start` and `missing_end` found them. Their scores stay those of
    the passage as indexed; a running head inside stays a heading of its own, never quoted."""
    out = list(sentences)
    cut = split_sentences(text)
    if not out or len(cut) != len(out) or not (prefix or suffix):
        return tuple(out)
    whole = split_sentences(prefix + text + suffix)
    first = _spanning(whole, len(prefix)) if prefix else None
    if first is not None:
        inside = [i for i, s in enumerate(cut) if s.start < first.end - len(prefix)]
        i = next((i for i in reversed(inside) if out[i].kind in ("prose", "list")), None)
        if i is not None:
            out[i] = replace(out[i], text=first.text, page=first_page)
    last = _spanning(whole, len(prefix) + len(text)) if suffix else None
    if last is not None:
        inside = [i for i, s in enumerate(cut) if s.end > last.start - len(prefix)]
        i = next((i for i in inside if out[i].kind in ("prose", "list")), None)
        if i is not None and not (first is not None and last is first):
            out[i] = replace(out[i], text=last.text)
        elif i is not None:  # one sentence holds the whole passage: it gets both ends
            out[i] = replace(out[i], text=last.text, page=first_page)
    return tuple(out)
