from __future__ import annotations

from rag.formats import old_text_answers
from rag.normalize import (
    collapse_whitespace,
    fix_control_chars,
    join_hyphenation,
    normalize_pages,
    normalize_text,
    strip_headers_footers,
    word_forms,
)


def test_hyphenation_joined_at_line_end() -> None:
    assert join_hyphenation("the infor-\nmation is here") == "the information is here"
    assert join_hyphenation("a para-  \n  graph") == "a paragraph"


def test_real_hyphen_inside_a_line_is_kept() -> None:
    assert join_hyphenation("a well-known fact") == "a well-known fact"


def test_hyphenated_compound_kept_when_document_uses_it() -> None:
    vocab = word_forms(["It is a well-known fact.", "Another well-known case."])
    assert join_hyphenation("this is well-\nknown", vocab) == "this is well-known"


def test_joined_word_wins_when_document_uses_it() -> None:
    vocab = word_forms(["The database is open.", "database"])
    assert join_hyphenation("the data-\nbase", vocab) == "the database"


def test_capital_or_digit_after_break_keeps_hyphen() -> None:
    assert join_hyphenation("Jean-\nPaul Sartre") == "Jean-Paul Sartre"
    assert join_hyphenation("COVID-\n19 cases") == "COVID-19 cases"


def test_compound_continuing_keeps_hyphen() -> None:
    assert join_hyphenation("state-of-the-\nart method") == "state-of-the-art method"


def test_dash_not_after_word_untouched() -> None:
    assert join_hyphenation("minus -\nthree") == "minus -\nthree"
    assert join_hyphenation("x --\ny") == "x --\ny"


def test_ot1_ligature_control_chars_become_letters() -> None:
    assert fix_control_chars("speci\x0ced and \x0cle e\x0bect \x0dow") == (
        "specified and file effect flow"
    )
    assert fix_control_chars("e\x0ecient") == "efficient"


def test_unicode_ligatures_and_controls() -> None:
    assert fix_control_chars("ﬁnd the ﬂow\x00\x07") == "find the flow"
    assert fix_control_chars("a\r\nb") == "a\nb"
    assert fix_control_chars("a\r\nb\rc", tex_ligatures=False) == "a\nb\nc"
    assert normalize_text("old\rMac\r\nlines") == "old\nMac\nlines"


def test_collapse_whitespace_keeps_paragraphs() -> None:
    text = "  Hello   world\t again  \n next line \n\n\n\n  New   paragraph \n\n"
    assert collapse_whitespace(text) == "Hello world again\nnext line\n\nNew paragraph"


def _book(n: int) -> list[str]:
    pages = []
    for i in range(n):
        number = i + 1 + 10  # printed numbers run 11, 12, ... (front matter not counted)
        head = f"Chapter {1 + i // 4}: Topic {1 + i // 4} {number}"
        body = f"Body text of page {i + 1} talks about subject {i}.\nSecond line, {i * 3} here."
        foot = "Company Confidential"
        pages.append(f"{head}\n{body}\n{foot}")
    return pages


def test_running_heads_feet_and_page_numbers_dropped() -> None:
    out = strip_headers_footers(_book(10))
    assert len(out) == 10
    for i, page in enumerate(out):
        assert "Chapter" not in page
        assert "Confidential" not in page
        assert f"Body text of page {i + 1}" in page
        assert f"Second line, {i * 3} here." in page


def test_bare_page_numbers_dropped() -> None:
    pages = [f"Some text {i}.\nMore words on page {i}.\n- {i + 1} -" for i in range(5)]
    out = strip_headers_footers(pages)
    assert all(f"- {i + 1} -" not in page for i, page in enumerate(out))
    assert out[2].startswith("Some text 2.")


def test_a_browsers_printed_head_and_foot_are_dropped() -> None:
    """A web page printed to PDF: the date and title atop each page, the address and "3/17"
    at its foot, both after the page's text in pypdf's order; a numbered heading that
    starts a page with that page's number stays."""
    pages = []
    titles = ["Copyright", "", "Python Packaging", "", "Programs", ""]
    for i in range(6):
        heading = f"{i + 1}. {titles[i]}\n" if titles[i] else ""
        pages.append(
            f"{heading}Body text of page {i + 1}.\nIt goes on here.\n"
            f"12/7/26, 4:54 AM Debian Python Policy documentation\n"
            f"file:///usr/share/doc/python3/python-policy.html {i + 1}/6"
        )
    out = strip_headers_footers(pages)
    for page in out:
        assert "file:///" not in page and "4:54 AM" not in page
        assert page.endswith("It goes on here.")
    assert [p.split("\n")[0] for p in out[::2]] == [
        "1. Copyright",
        "3. Python Packaging",
        "5. Programs",
    ]


def test_a_foot_with_page_n_of_m_is_dropped() -> None:
    pages = [
        f"Text {i * 7} here.\nMore {i * 3}.\nACME report - Page {i + 1} of 5" for i in range(5)
    ]
    out = strip_headers_footers(pages)
    assert all("Page" not in p and p.startswith("Text") for p in out)


def test_body_lines_that_repeat_rarely_are_kept() -> None:
    pages = [f"Intro {i * 3}\nbody {i * 5}\nThe end" for i in range(6)]
    pages[0] = "Summary\nbody\nshared line"
    pages[1] = "Other\nbody\nshared line"
    out = strip_headers_footers(pages)
    assert "shared line" in out[0] and "shared line" in out[1]
    assert all("The end" not in p for p in out[2:])  # on 4 of 6 pages: a running foot
    assert all(p.startswith("Intro") for p in out[2:])


def test_templated_body_lines_kept() -> None:
    # identical apart from numbers is not identical: only true repeats are furniture
    pages = [f"Item {i * 7} costs {i * 3} euros.\nNote {i * 5}.\nEnd {i * 11}." for i in range(6)]
    assert strip_headers_footers(pages) == pages


def test_body_line_below_a_kept_line_is_kept() -> None:
    pages = [f"Heading {i * 3}\nCompany Confidential\nbody\nmore {i * 7}" for i in range(4)]
    # "Company Confidential" repeats, but it is not at the edge once "Heading i" stays
    assert strip_headers_footers(pages) == pages


def _docbook(heads: list[str]) -> list[str]:
    """Pages of a DocBook/PassiveTeX manual: a chapter's title atop each page but its first,
    the page number at the foot, a sentence that goes on over each page break."""
    pages = []
    for i, head in enumerate(heads):
        top = f"{head}\n" if head else ""
        pages.append(f"{top}on page {i} it goes on. A sentence cut in the\n{i + 1}")
    return pages


def test_a_chapters_running_head_is_dropped_from_its_pages() -> None:
    """bzip2's manual: "How to use bzip2" atop five pages of a 38-page manual, too few for
    a head on most pages, and without a page number."""
    heads = ["", "", "How to use bzip2", "How to use bzip2", "", "How to use bzip2"]
    heads += ["", "Miscellanea", "Miscellanea", "Miscellanea", "", "", "", "", ""]
    out = strip_headers_footers(_docbook(heads))
    assert not any("How to use" in p or "Miscellanea" in p for p in out)
    assert all(p.startswith(f"on page {i} it goes on.") for i, p in enumerate(out))
    assert all(p.endswith("cut in the") for p in out)


def test_a_latex_books_numbered_running_heads_in_capitals_are_dropped() -> None:
    """The Debian FAQ: "CHAPTER 3. CHOOSING A DEBIAN ... 3.2. BUT WHAT ABOUT KNOPPIX, LINUX
    ..." atop each page, its section's part different on every page (and one ends in "?").
    Kept: a numbered heading in mixed case, and one in capitals atop a single page."""
    heads = [
        "",
        "CHAPTER 1. OVERVIEW 1.3. OK, NOW I KNOW WHAT DEBIAN IS... ...",
        "CHAPTER 1. OVERVIEW 1.6. HOW DOES THE DEBIAN PROJECT FIT IN ...",
        "",
        "CHAPTER 2. GETTING DEBIAN 2.3. WHERE/HOW CAN I GET IT?",
        "3.1. WHICH DEBIAN DISTRIBUTION ...",
        "",
        "2.4 The glob files",
        "",
        "",
        "",
        "4.1. WHAT HARDWARE IS SUPPORTED",
    ]
    out = strip_headers_footers(_docbook(heads))
    assert all(p.startswith(f"on page {i} it goes on.") for i, p in enumerate(out[:7]))
    assert out[7].startswith("2.4 The glob files") and out[11].startswith("4.1. WHAT")


def test_lines_atop_pages_that_are_not_a_chapters_head_are_kept() -> None:
    """Kept: a heading atop a few scattered pages, one atop only two pages, a line under
    a changing first line (GLPK's "Synopsis" under each routine's name), a repeated last
    sentence of a caption, a table's repeated header row."""
    heads = ["Examples", "", "", "", "Examples", "", "", "", "Examples", "", "Twice", "Twice"]
    pages = _docbook(heads)
    for i in range(3):  # pages 1-3
        pages[1 + i] = f"2.{i} glp_routine_{i}\nSynopsis\n" + pages[1 + i]
    for i in (5, 6, 7):
        pages[i] = "Input size 64 256 1K 4K 16K\n" + pages[i]
        pages[i] = pages[i].replace(f"\n{i + 1}", f"\nin interleaved manner.\n{i + 1}")
    out = strip_headers_footers(pages)
    assert [p.split("\n")[0] for p in out if p.startswith("Examples")] == ["Examples"] * 3
    assert sum(p.startswith("Twice") for p in out) == 2
    assert all("Synopsis" in p for p in out[1:4])
    assert all(p.startswith("Input size") and "interleaved manner." in p for p in out[5:8])


def test_a_code_blocks_continuation_marks_at_a_page_break_are_dropped() -> None:
    """Sphinx's PDFs mark a code block that a page breaks: the marks were read into the
    example ("$ kinit user `(continues on next page)` ...")."""
    pages = [
        "Text before.\n$ kinit user\nPassword for user@KRBTEST.COM:\n(continues on next page)\n4",
        "(continued from previous page)\nkinit: Password incorrect\nText after.\n5",
        "Another page.\n6",
    ]
    out = strip_headers_footers(pages)
    assert "continue" not in "".join(out)
    assert out[1].startswith("kinit: Password incorrect")
    # ... only at a page's edge: a sentence's own words stay
    assert (
        "(continued from previous page)"
        in strip_headers_footers(["A\n(continued from previous page)\nB\n1", "C\n2", "D\n3"])[0]
    )


def test_a_pdf_read_before_chapter_heads_were_dropped_answers_while_read_again() -> None:
    assert old_text_answers("pdf", 2) and old_text_answers("pdf", 1)  # labels, furniture
    assert old_text_answers("pdf", 3)  # 4 joins letter-spaced words, 5 drops copies
    assert old_text_answers("pdf", 9)  # 10 drops a code block's continuation marks
    assert not old_text_answers("markdown", 6)  # its old text may hold what is left out now
    assert old_text_answers("markdown", 7)  # 8 only leaves a table of contents out
    assert old_text_answers("text", 1)  # 2 marks underlined titles and leaves rules out


def test_short_documents_unchanged() -> None:
    pages = ["Title\n1", "Title\n2"]
    assert strip_headers_footers(pages) == pages


def test_normalize_pages_end_to_end() -> None:
    names = ["pump", "valve", "filter", "motor"]
    pages = [
        f"Manual 1.0 {i + 1}\nThe {name} config-\nuration of   item {i} is described"
        f"\n\n\nsee {name}."
        for i, name in enumerate(names)
    ]
    out = normalize_pages(pages)
    assert out[0] == "The pump configuration of item 0 is described\n\nsee pump."
    assert out[3].startswith("The motor configuration of item 3")


def test_normalize_text() -> None:
    assert normalize_text("  a  b \n\n\n c-\nd ") == "a b\n\ncd"


def test_a_combining_grave_after_no_letter_is_texs_opening_quote() -> None:
    """The Debian FAQ's fonts give TeX's opening quote as U+0300: "in ̀stable’"."""
    from rag.normalize import fix_control_chars

    assert fix_control_chars("in \u0300stable\u2019 (\u0300x\u2019)") == "in ‘stable’ (‘x’)"
    assert fix_control_chars("e\u0300 m\u0300") == "è m\u0300"  # an accent on a letter stays
    assert fix_control_chars("in \u0300x", tex_ligatures=False) == "in \u0300x"  # PDF only
