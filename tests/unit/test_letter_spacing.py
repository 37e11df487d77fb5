"""Words a PDF sets letter by letter (LaTeX listings) read as words, guided by the page's
layout-mode text; single letters that are words of ordinary text stay as they are."""

from __future__ import annotations

from rag.letter_spacing import looks_letter_spaced, respace

# What pypdf's plain and layout modes give for a page of pdfTeX's `listings` output (the
# layout lines are how pypdf 7 sets such a listing: two or more spaces between words).
PLAIN = (
    "Listing 4 computes the CRC word by word.\n"
    "Crc r e s u l t = 0 ;\n"
    "// U n r o l l t h i s l o o p o r l e t c o m p i l e r do i t .\n"
    "f o r ( i n t b y t e = 0 ; b y t e < 8 ; ++b y t e ) {\n"
    "r e t u r n r e s u l t ;\n"
)
LAYOUT = (
    "Listing 4 computes the CRC word by word.\n"
    "          Crc   r e s u l t  =  0 ;\n"
    "          //   U n r o l l   t h i s   l o o p   o r   l e t   c o m p i l e r   do   i t .\n"
    "          f o r   ( i n t   b y t e  =  0 ;   b y t e  <   8 ;  ++byte )   {\n"
    "          r e t u r n   r e s u l t ;\n"
)


def test_a_listing_reads_as_words() -> None:
    lines = respace(PLAIN, LAYOUT).splitlines()
    assert lines[0] == "Listing 4 computes the CRC word by word."
    assert lines[1].startswith("Crc result = 0")
    assert lines[2].startswith("// Unroll this loop or let compiler do it")
    assert lines[3].startswith("for (int byte = 0; byte < 8;")
    assert lines[4].startswith("return result")


def test_single_letters_of_ordinary_text_stay() -> None:
    # a table's row ("size d p q a b c" beside a cell edge), an alphabet, a formula, and a
    # monospaced example whose letters are words ("set -- a b c d"): every gap is a word gap
    plain = "rsa_private_key size d p q a b c\nA B C D E F\nN x N x N\n$ set -- 0 a b c d e f\n"
    layout = (
        "rsa_private_key  size d p q a b c        [Context struct]\n"
        "A B C D E F\n"
        "N x N x N\n"
        "$  set  --  0  a  b  c  d  e  f\n"
    )
    assert looks_letter_spaced(plain)
    assert respace(plain, layout) == plain


def test_a_page_without_words_set_in_columns_is_left_alone() -> None:
    # layout mode shows one-word runs beside a wide gap (a table's cell edge), but no run
    # whose inner gaps tell letters from words: nothing says the page sets text in columns
    plain = "dsa_public_key p q g y\nThe key holds p q g y.\n"
    layout = "dsa_public_key  p q g y      [Context struct]\nThe key holds p q g y.\n"
    assert respace(plain, layout) == plain


def test_letters_not_found_in_layout_text_stay() -> None:
    plain = "Crc r e s u l t = 0 ;\n// U n r o l l t h i s\n"
    assert respace(plain, "") == plain
    assert respace(plain, "something else entirely\n") == plain


def test_plain_text_without_runs_is_returned_as_is() -> None:
    plain = "An ordinary page, with a list: a, b and c.\n"
    assert not looks_letter_spaced(plain)
    assert respace(plain, "anything") == plain


def test_a_page_of_many_runs_is_read_as_far_as_the_cap() -> None:
    """A hostile page of 20,000 letter-spaced lines: the first MAX_RUNS runs are joined,
    the rest are left as they were (each run tries TRIES places, not every "a b")."""
    from rag.letter_spacing import MAX_RUNS

    plain = "\n".join(["// U n r o l l t h i s xx a b = 0 ;"] * 20_000)
    layout = "\n".join(["//   U n r o l l   t h i s   xx  a b  =  0 ;"] * 20_000)
    lines = respace(plain, layout).splitlines()
    assert len(lines) == 20_000
    assert lines[0] == "// Unroll this xx ab = 0;"
    assert lines[-1] == "// U n r o l l t h i s xx a b = 0 ;"
    assert sum(line.startswith("// Unroll") for line in lines) == MAX_RUNS // 2
