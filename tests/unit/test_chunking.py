"""Chunking invariants with a simple deterministic counter (whitespace words, plus two
tokens per call the way a BERT tokenizer adds [CLS] and [SEP]). The real tokenizer is used in
tests/integration/test_extract.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from rag.chunking import PAGE_SEPARATOR, Chunk, chunk_pages, joined_text_from, page_spans


@dataclass
class Page:
    page: int
    text: str


class WordCounter:
    """Counts whitespace-separated words, +2 per call; remembers how it was called."""

    def __init__(self, overhead: int = 2) -> None:
        self.overhead = overhead
        self.calls: list[str] = []

    def __call__(self, text: str) -> int:
        self.calls.append(text)
        return len(text.split()) + self.overhead


def _sentences(n: int, seed: int = 0, words: int = 9) -> str:
    out = []
    for i in range(n):
        k = (seed + i) % 7
        body = " ".join(f"w{seed}x{i}y{j}" for j in range(words + k))
        out.append(f"Sentence {seed}-{i} says {body}.")
    return " ".join(out)


def _doc() -> list[Page]:
    return [
        Page(1, _sentences(12, 1) + "\n\n" + _sentences(5, 2)),
        Page(2, _sentences(20, 3)),
        Page(3, ""),  # a blank page (a figure)
        Page(4, _sentences(3, 4) + "\n\n" + _sentences(8, 5) + "\n\n" + _sentences(1, 6)),
        Page(7, _sentences(15, 7)),  # page numbers need not be consecutive
    ]


def _check_offsets(pages: list[Page], chunks: list[Chunk]) -> None:
    by_number = {p.page: p for p in pages}
    for c in chunks:
        assert joined_text_from(pages, c.page_start)[c.char_start : c.char_end] == c.text
        if c.page_start == c.page_end:
            assert by_number[c.page_start].text[c.char_start : c.char_end] == c.text
        assert c.text == c.text.strip()
        assert c.page_start <= c.page_end


def _word_positions(pages: list[Page]) -> set[tuple[int, int]]:
    """(page, offset) of every word in the document."""
    return {(p.page, m.start()) for p in pages for m in re.finditer(r"\S+", p.text)}


def _covered(pages: list[Page], chunks: list[Chunk]) -> set[tuple[int, int]]:
    numbers = [p.page for p in pages]
    bases = {}
    pos = 0
    for p in pages:
        bases[p.page] = pos
        pos += len(p.text) + len(PAGE_SEPARATOR)
    covered = set()
    for c in chunks:
        start = bases[c.page_start] + c.char_start
        end = bases[c.page_start] + c.char_end
        for number in numbers:
            base = bases[number]
            page_text = next(p.text for p in pages if p.page == number)
            for m in re.finditer(r"\S+", page_text):
                if start <= base + m.start() and base + m.end() <= end:
                    covered.add((number, m.start()))
    return covered


def test_invariants_on_a_mixed_document() -> None:
    pages = _doc()
    count = WordCounter()
    chunks = chunk_pages(pages, count, target_tokens=60, overlap_tokens=15, max_tokens=80)
    assert len(chunks) > 5
    _check_offsets(pages, chunks)
    for c in chunks:
        assert c.n_tokens == count(c.text)
        assert c.n_tokens <= 80
    # every word is in some chunk, and chunks are in document order
    assert _covered(pages, chunks) == _word_positions(pages)
    keys = [(c.page_start, c.char_start) for c in chunks]
    assert keys == sorted(keys)
    # no chunk on the blank page alone
    assert all(not (c.page_start == c.page_end == 3) for c in chunks)


def test_sizes_near_target() -> None:
    pages = [Page(1, _sentences(200, 9))]
    chunks = chunk_pages(pages, WordCounter(), target_tokens=100, overlap_tokens=20, max_tokens=200)
    sizes = [c.n_tokens for c in chunks]
    # all but the last are at least half the target and at most the target
    assert all(50 <= n <= 100 for n in sizes[:-1]), sizes
    assert sum(sizes[:-1]) / len(sizes[:-1]) > 75


def test_overlap_is_whole_sentences_within_budget() -> None:
    pages = [Page(1, _sentences(60, 11))]
    count = WordCounter()
    chunks = chunk_pages(pages, count, target_tokens=70, overlap_tokens=25, max_tokens=120)
    overlaps = 0
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.char_start < a.char_end  # each chunk overlaps the one before
        assert b.char_start > a.char_start  # and moves forward
        shared = pages[0].text[b.char_start : a.char_end]
        assert shared.startswith("Sentence ") and shared.endswith(".")
        assert count(shared) - count.overhead <= 25
        overlaps += 1
    assert overlaps > 3


def test_no_overlap_when_zero() -> None:
    pages = [Page(1, _sentences(40, 12))]
    chunks = chunk_pages(pages, WordCounter(), target_tokens=50, overlap_tokens=0, max_tokens=60)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.char_start >= a.char_end


def test_paragraph_boundary_preferred() -> None:
    para_a = _sentences(4, 20)  # about 60 words
    para_b = _sentences(4, 21)
    pages = [Page(1, para_a + "\n\n" + para_b)]
    chunks = chunk_pages(pages, WordCounter(), target_tokens=100, overlap_tokens=0, max_tokens=120)
    assert chunks[0].text == para_a


def test_overlong_sentence_split_at_words_then_hard() -> None:
    words = " ".join(f"token{i}" for i in range(500))
    giant = "x" * 3000  # one "word": cut by characters
    text = f"Short start. {words} and then {giant} end."
    pages = [Page(5, text)]

    class CharCounter:
        def __call__(self, s: str) -> int:  # about one token per 8 characters, words at least 1
            return sum(max(1, -(-len(w) // 8)) for w in s.split()) + 2

    count = CharCounter()
    chunks = chunk_pages(pages, count, target_tokens=64, overlap_tokens=8, max_tokens=64)
    _check_offsets(pages, chunks)
    assert all(count(c.text) <= 64 for c in chunks)
    assert all(c.page_start == c.page_end == 5 for c in chunks)
    assert _covered(pages, chunks) | {(5, text.index(giant))} >= _word_positions(pages)
    # the giant word is covered piecewise: its characters all land in some chunk
    covered_chars = set()
    for c in chunks:
        covered_chars.update(range(c.char_start, c.char_end))
    gstart = text.index(giant)
    assert set(range(gstart, gstart + len(giant))) <= covered_chars
    # word pieces end at word boundaries
    for c in chunks:
        if "token" in c.text and "x" * 10 not in c.text:
            assert text[c.char_end - 1] != " " and (
                c.char_end == len(text) or text[c.char_end] == " "
            )


def test_count_tokens_called_per_sentence_not_per_character() -> None:
    pages = _doc()
    count = WordCounter()
    chunk_pages(pages, count, target_tokens=60, overlap_tokens=15, max_tokens=80)
    n_sentences = sum(p.text.count("Sentence ") for p in pages)
    assert len(count.calls) < 3 * n_sentences
    assert min(len(c) for c in count.calls if c) > 10  # never single characters


def test_multi_page_chunk_offsets() -> None:
    pages = [Page(1, "Alpha one. Alpha two."), Page(2, "Beta one. Beta two.")]
    chunks = chunk_pages(pages, WordCounter(0), target_tokens=100, overlap_tokens=0, max_tokens=100)
    assert len(chunks) == 1
    c = chunks[0]
    assert (c.page_start, c.page_end) == (1, 2)
    assert c.text == "Alpha one. Alpha two." + PAGE_SEPARATOR + "Beta one. Beta two."
    assert (c.char_start, c.char_end) == (0, len(c.text))
    assert c.char_end > len(pages[0].text)


def test_empty_and_blank_input() -> None:
    assert chunk_pages([], WordCounter()) == []
    assert chunk_pages([Page(1, ""), Page(2, "  \n\n ")], WordCounter()) == []


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        chunk_pages([], WordCounter(), target_tokens=600, max_tokens=510)
    with pytest.raises(ValueError):
        chunk_pages([], WordCounter(), target_tokens=100, overlap_tokens=100)


def test_chunk_never_exceeds_max_even_when_parts_do_not_add_up() -> None:
    """A counter whose count of a whole is more than the sum of its parts (as subword
    tokenizers can be at joins): the real count of each chunk still decides."""

    def lumpy(s: str) -> int:
        words = s.split()
        return len(words) + len(words) // 4 + 2

    pages = [Page(1, _sentences(50, 30))]
    chunks = chunk_pages(pages, lumpy, target_tokens=60, overlap_tokens=10, max_tokens=64)
    assert chunks
    assert all(lumpy(c.text) <= 64 for c in chunks)
    _check_offsets(pages, chunks)
    assert _covered(pages, chunks) == _word_positions(pages)


def test_page_spans_map_chunks_back_to_each_page() -> None:
    pages = _doc()
    by_number = {p.page: p.text for p in pages}
    chunks = chunk_pages(pages, WordCounter(), target_tokens=60, overlap_tokens=15, max_tokens=80)
    multi = 0
    for c in chunks:
        spans = page_spans(pages, c)
        assert spans[0][0] == c.page_start and spans[-1][0] == c.page_end
        assert spans[0][1] == c.char_start
        pieces = [by_number[n][a:b] for n, a, b in spans]
        # the chunk text is the pieces joined by the separator (blank pages give no piece)
        assert " ".join(" ".join(pieces).split()) == " ".join(c.text.split())
        multi += len(spans) > 1
    assert multi > 0
