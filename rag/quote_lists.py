"""What stands beside a quote in its passage, and the list a quote introduces. Pure.

A grounded answer's quote (`rag.evidence`) may take the sentences around it; each must stand
on the quote's page and in its section, so the quote's citation holds for all of them
(`beside`). A quote that ends with a colon answers nothing by itself ("We currently envisage
three kinds of triggers:"): the list after it comes with it (`introduced_list`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.evidence import ScoredSentence

LIST_WORDS = 80  # a list that a quote introduces is shown as far as this many words go
INTRO_WORDS = 12  # a sentence after the quote shorter than this may introduce the list


def quote_key(text: str) -> str:
    """A sentence as compared for "quoted already": lower case, single spaces."""
    return " ".join(text.lower().split())


def beside(
    sents: Sequence[ScoredSentence], j: int, like: ScoredSentence, seen: set[str]
) -> ScoredSentence | None:
    """Sentence j when it exists, stands on the page and in the section of `like` (so the
    citation holds for both) and has not been quoted already."""
    if not 0 <= j < len(sents):
        return None
    n = sents[j]
    same = n.page == like.page and n.section == like.section
    return n if same and quote_key(n.text) not in seen else None


def opens_list(s: ScoredSentence, nxt: ScoredSentence) -> bool:
    """Whether `nxt` is the first item of a list that `s` introduces: it comes with the list,
    not as the quote's context ("These are the configuration values ...:" and "* `x` - ...")."""
    return s.text.rstrip().endswith(":") and nxt.kind == "list"


def introduced_list(
    sents: Sequence[ScoredSentence], last: int, like: ScoredSentence, seen: set[str]
) -> tuple[list[str], list[str], int]:
    """The list that the quote's last sentence introduces ("We currently envisage three kinds
    of triggers:"), or that a short sentence after it does ("... is not found. Some possible
    reasons:", which then comes first): whole items as far as LIST_WORDS words go (the first
    one whatever its length; "…" after them when the list goes on): that short sentence (or
    nothing), the items, and the index of the last sentence taken. Everything stands on the
    quote's page and in its section (`beside`)."""
    intro: list[str] = []
    if not sents[last].text.rstrip().endswith(":"):
        n = beside(sents, last + 1, like, seen)
        short = n is not None and len(n.text.split()) < INTRO_WORDS
        if n is None or n.kind != "prose" or not short or not n.text.rstrip().endswith(":"):
            return [], [], last
        intro = [n.text]
    run, taken = _items(sents, last + 1 + len(intro), like, seen)
    items: list[str] = []
    end = last
    words = 0
    for item, item_end in zip(run, taken, strict=True):
        text = " ".join(item)
        words += len(text.split())
        if items and words > LIST_WORDS:
            items.append("…")
            break
        items.append(text)
        end = item_end
    if not items:
        return [], [], last
    seen.update(quote_key(sents[j].text) for j in range(last + 1, end + 1))
    return intro, items, end


def _items(
    sents: Sequence[ScoredSentence], first: int, like: ScoredSentence, seen: set[str]
) -> tuple[list[list[str]], list[int]]:
    """The list's items from sentence `first` on, each as its sentences, and the index of
    each item's last sentence."""
    run: list[list[str]] = []
    taken: list[int] = []
    for j in range(first, len(sents)):
        n = beside(sents, j, like, seen)
        if n is None:
            break
        if n.kind == "code" and run and _unfinished_item(sents[j - 1], n):
            run[-1].append(f"`{n.text}`")  # "... which have been selected by getOption("repos")"
        elif n.kind != "list":
            break
        elif n.item or not run:
            run.append([n.text])
            taken.append(j)
        else:
            run[-1].append(n.text)
        taken[-1] = j
    return run, taken


def _unfinished_item(item: ScoredSentence, code: ScoredSentence) -> bool:
    """Whether `code` is the end of the list item before it: the item stops mid-sentence and
    the code is short, on one line."""
    unfinished = not item.text.rstrip().endswith((".", "!", "?", ":", ";"))
    return item.kind == "list" and unfinished and len(code.text) <= 60 and "\n" not in code.lines
