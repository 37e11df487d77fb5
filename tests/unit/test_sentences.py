"""Sentence splitting of text as PDF extraction leaves it (rag.sentences)."""

from __future__ import annotations

from rag.code_regions import without_line_numbers
from rag.retrieve import location
from rag.sections import numbered_headings, title
from rag.sentences import is_heading, markdown_headings, split_sentences


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def kinds_and_texts(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in split_sentences(text)]


def test_line_breaks_inside_a_sentence_are_spaces() -> None:
    text = (
        "The recall and editing capabilities under UNIX are highly\ncustomizable. "
        "You can find\nout how to do this."
    )
    assert texts(text) == [
        "The recall and editing capabilities under UNIX are highly customizable.",
        "You can find out how to do this.",
    ]


def test_hyphenation_at_a_line_end_is_undone_but_real_hyphens_stay() -> None:
    text = "The file is read by the docu-\nment parser. It uses the X-\nWindow system."
    assert texts(text) == [
        "The file is read by the document parser.",
        "It uses the X-Window system.",
    ]


def test_abbreviations_numbers_and_file_names_do_not_end_a_sentence() -> None:
    text = "Use e.g. the value 3.14 from commands.R now. The rest follows. See 2.1. The end."
    assert texts(text) == [
        "Use e.g. the value 3.14 from commands.R now.",
        "The rest follows.",
        "See 2.1. The end.",  # "2.1." is a section number, as in "2.4. The glob files"
    ]


def test_a_sentence_may_start_with_a_lower_case_command_or_file_name() -> None:
    """Manuals start sentences with a program's or a file's name: bzip2's manual reads "... in
    the stream. bzcat (or bzip2 -dc) decompresses ..."; an abbreviation, an initialism with
    periods, an ellipsis, a number or a question mark before a lower-case word goes on."""
    text = (
        "Earlier versions stop after the first\nfile in the stream. bzcat (or bzip2 -dc)\n"
        "decompresses all files. fonts.conf holds the settings. Use e.g. the flag, a.k.a. the\n"
        "switch, as in Fig. a. Wait... then go. The value is 3. x comes next. Is it? yes it is.\n"
        "It ends. then. Done."
    )
    got = split_sentences(text)
    assert [s.text for s in got] == [
        "Earlier versions stop after the first file in the stream.",
        "bzcat (or bzip2 -dc) decompresses all files.",
        "fonts.conf holds the settings.",
        "Use e.g. the flag, a.k.a. the switch, as in Fig. a.",
        "Wait... then go.",
        "The value is 3. x comes next.",
        "Is it? yes it is.",
        "It ends. then.",  # a plain lower-case word: more often a wrapped line than a sentence
        "Done.",
    ]
    assert text[got[1].start : got[1].end] == "bzcat (or bzip2 -dc)\ndecompresses all files."


def test_a_wrapped_version_number_ends_its_sentence_as_prose() -> None:
    """bzip2's manual: "(... with versions\n1.0.0/1.0.1).\nexit(3) is then called." The wrapped
    line is not code, and the closing parenthesis ends the sentence before the function."""
    text = (
        "This is a frequently-observed-phenomenon with versions\n1.0.0/1.0.1).\n"
        "exit(3) is then called."
    )
    assert kinds_and_texts(text) == [
        ("prose", "This is a frequently-observed-phenomenon with versions 1.0.0/1.0.1)."),
        ("prose", "exit(3) is then called."),
    ]
    # a word in brackets wrapped onto its own line: GLPK's "... on the standard output\n
    # (terminal).", R's "... for the type of OS\n(Unix/Windows)." had been shown as code
    wrapped = "It is written on the standard output\n(terminal).\nExamples\n"
    assert kinds_and_texts(wrapped)[0] == (
        "prose",
        "It is written on the standard output (terminal).",
    )


def test_a_markdown_list_item_keeps_its_wrapped_code_span_and_its_type() -> None:
    """Node's API docs: a parameter list item wraps onto a line that is only the end of its
    sentence, a code span ("(see\n`options.detached`)."): that line was taken for code and cut
    the sentence in two. An item naming a parameter and its type ends in "}" and is no code."""
    text = (
        "* `options` {Object}\n"
        "* `detached` {boolean} Prepare child process to run independently of its\n"
        "parent process. Specific behavior depends on the platform (see\n"
        "`options.detached`).\n"
        "* `args` {string[]}\n\n"
        "settings = {depth: 2}\n"
    )
    assert kinds_and_texts(text) == [
        ("list", "`options` {Object}"),
        (
            "list",
            "`detached` {boolean} Prepare child process to run independently of its parent "
            "process.",
        ),
        ("list", "Specific behavior depends on the platform (see `options.detached`)."),
        ("list", "`args` {string[]}"),
        ("code", "settings = {depth: 2}"),
    ]


def test_an_example_file_in_a_pdf_is_code_from_its_first_line_and_through_its_comments() -> None:
    """Fontconfig's guide: a sentence without its period before an example file, whose
    comments hold lines of words. The file was quoted inside the sentence, and a comment's
    words ("Find fonts in these directories") as a sentence of their own."""
    text = (
        "This is an example of a per-user configuration file that lives in\n"
        "$XDG_CONFIG_HOME/fontconfig/fonts.conf\n"
        '<?xml version="1.0"?>\n'
        "<fontconfig>\n"
        "<!--\n"
        "Find fonts in these directories\n"
        "-->\n"
        "<dir>/usr/share/fonts</dir>\n"
        "/*\n"
        "A C comment.\n"
        "*/\n"
        "</fontconfig>\n"
        "Run it with the command\n"
        "$ fc-cache -f\n"
        "after a change. List /etc/* to see\n"
        "the others.\n"
    )
    assert kinds_and_texts(text) == [
        (
            "prose",
            "This is an example of a per-user configuration file that lives in "
            "`$XDG_CONFIG_HOME/fontconfig/fonts.conf`",
        ),
        (
            "code",
            '<?xml version="1.0"?> <fontconfig> <!-- Find fonts in these directories --> '
            "<dir>/usr/share/fonts</dir> /* A C comment. */ </fontconfig>",
        ),
        ("prose", "Run it with the command `fc-cache -f` after a change."),
        ("prose", "List /etc/* to see the others."),
    ]


def test_code_a_sentence_introduces_with_inline_code_and_an_r_comment() -> None:
    """R's manuals: "we can now use the special function\ntapply():" introduces the code
    after it, which is no part of the sentence; a call wrapped over three lines inside a
    sentence is inline code to its closing bracket (its last line "59, 46, 58, 43)" was
    prose); "## convert ..." is R's comment, not a title."""
    text = (
        "We have the incomes in another vector\n"
        "> incomes <- c(60, 49, 40, 61, 64, 60, 59, 54, 62, 69, 70, 42, 56,\n"
        "61, 61, 61, 58, 51, 48, 65, 49, 49, 41, 48, 52, 46,\n"
        "59, 46, 58, 43)\n\n"
        "To calculate the mean income we can now use the special function\n"
        "tapply():\n"
        "> incmeans <- tapply(incomes, statef, mean)\n"
        "giving a means vector.\n\n"
        "## convert decimal point to comma in output, using a pipe (Unix)\n"
        "close(zz)\n"
    )
    got = kinds_and_texts(text)
    assert got[0] == (
        "prose",
        "We have the incomes in another vector `incomes <- c(60, 49, 40, 61, 64, 60, 59, 54, 62,"
        " 69, 70, 42, 56,` `61, 61, 61, 58, 51, 48, 65, 49, 49, 41, 48, 52, 46,` `59, 46, 58, 43)`",
    )
    assert got[1:] == [
        ("prose", "To calculate the mean income we can now use the special function `tapply():`"),
        ("code", "> incmeans <- tapply(incomes, statef, mean)"),
        ("prose", "giving a means vector."),
        ("code", "## convert decimal point to comma in output, using a pipe (Unix) close(zz)"),
    ]


def test_list_items_that_end_in_semicolons_are_prose_and_statements_code() -> None:
    """GLPK's manual separates the items of a list with semicolons: each item was taken for a
    C statement and shown as inline code in the middle of its sentence."""
    text = (
        "The symbol means: Blank means that the solver is searching for primal feasible\n"
        "or for dual feasible solution using the dual simplex;\n"
        "Asterisk (*) means that the solver is searching for\n"
        "optimal solution using the primal simplex;\n"
        "Hash (#) means the dual simplex.\n\n"
        "void glp_set_row_name(glp_prob *P, int i, const char *name);\n"
    )
    assert kinds_and_texts(text) == [
        (
            "prose",
            "The symbol means: Blank means that the solver is searching for primal feasible or "
            "for dual feasible solution using the dual simplex; Asterisk (*) means that the "
            "solver is searching for optimal solution using the primal simplex; Hash (#) means "
            "the dual simplex.",
        ),
        ("code", "void glp_set_row_name(glp_prob *P, int i, const char *name);"),
    ]


def test_a_footnote_mark_after_a_period_ends_the_sentence_and_is_dropped() -> None:
    """LaTeX manuals put footnote marks right after the period: "tableau.4 It shows"."""
    text = (
        "The matrix is called the simplex tableau.4 It shows how basic variables depend on "
        "the others. Use version 3.4 Then stop. Read commands.R first."
    )
    got = split_sentences(text)
    assert [s.text for s in got] == [
        "The matrix is called the simplex tableau.",
        "It shows how basic variables depend on the others.",
        "Use version 3.4 Then stop.",  # a number, not a footnote mark
        "Read commands.R first.",
    ]
    assert text[got[1].start : got[1].end] == got[1].text


def test_list_items_are_sentences_of_their_own() -> None:
    text = "It supports:\n• SEQUENCE; and\n• SET OF types.\n1. First item here\n2. Second item here"
    got = split_sentences(text)
    assert [s.text for s in got] == [
        "It supports:",
        "SEQUENCE; and",
        "SET OF types.",
        "First item here",
        "Second item here",
    ]
    assert [s.kind for s in got[1:]] == ["list"] * 4


def test_code_inside_a_sentence_belongs_to_it_and_code_after_one_stands_alone() -> None:
    text = (
        'They may be executed with the command\n> source("commands.R")\n'
        "For Windows Source is also available. For example:\n"
        "55:text/x-diff:*.patch\n50:text/x-diff:*.diff\nThe lines are ordered."
    )
    got = split_sentences(text)
    assert got[0].text == 'They may be executed with the command `source("commands.R")`'
    assert got[1].text == "For Windows Source is also available."
    assert got[2].text == "For example:"
    assert got[3].kind == "code" and "55:text/x-diff:*.patch" in got[3].text
    assert got[4].text == "The lines are ordered."


def test_headings_and_offsets() -> None:
    text = "2.4. The glob files\nThe globs2 file is a simple list of lines.\nThe lines are ordered."
    got = split_sentences(text)
    assert got[0].kind == "heading" and got[0].text == "2.4. The glob files"
    for s in got:  # offsets point back into the text given
        assert text[s.start : s.end].split()[0] == s.text.split()[0]
    assert is_heading("Synopsis") and not is_heading("the routine returns a pointer.")


def test_a_sentence_broken_by_a_page_break_is_joined() -> None:
    text = "The routine assigns a given symbolic name to\n\nthe specified problem object. Next one."
    assert texts(text) == [
        "The routine assigns a given symbolic name to the specified problem object.",
        "Next one.",
    ]


def test_a_running_head_inside_a_sentence_broken_by_a_page_break_is_left_out() -> None:
    """bzip2's manual sets its chapter's title atop each page of the chapter; a sentence
    that runs on to the next page goes on under it ("in the region of" / "How to use bzip2" /
    "50 bytes."). A numbered heading there is a heading, and a sentence that ended is not
    continued."""
    text = (
        "Files of less than about one hundred bytes tend to get larger, since the compression "
        "mechanism has a constant overhead in the region of\n\nHow to use bzip2\n50 bytes. "
        "Random data is coded at about 8.05 bits per byte.\n\nHow to use bzip2\nthe end."
    )
    assert texts(text)[:2] == [
        "Files of less than about one hundred bytes tend to get larger, since the compression "
        "mechanism has a constant overhead in the region of 50 bytes.",
        "Random data is coded at about 8.05 bits per byte.",
    ]
    numbered = (
        "A long line of text that stops without its closing period here\n\n2.3. Usage\nbzip2 -d"
    )
    assert kinds_and_texts(numbered)[1] == ("heading", "2.3. Usage")


def test_a_link_wrapped_at_a_dot_or_slash_is_one_word() -> None:
    """R's FAQ: "(https://CRAN.\nR-project.org/web/views/)" was cut into two sentences at
    "CRAN." and "https://www.\ngnu.org/..." got a space; a link that ends a sentence stays
    apart from the next one ("copyleft/." / "Each version ...")."""
    text = (
        "Packages are grouped in Task Views (https://CRAN.\nR-project.org/web/views/). It is "
        "free software (https://www.\ngnu.org/philosophy/free-sw.html) under the GPL (see\n"
        "https://CRAN.R-project.org/\npackage=boot). See http://www.gnu.org/copyleft/.\n"
        "Each version is given a number. Get it from http://example.org/\nIf that fails, stop."
    )
    assert texts(text) == [
        "Packages are grouped in Task Views (https://CRAN.R-project.org/web/views/).",
        "It is free software (https://www.gnu.org/philosophy/free-sw.html) under the GPL (see "
        "https://CRAN.R-project.org/package=boot).",
        "See http://www.gnu.org/copyleft/.",
        "Each version is given a number.",
        "Get it from http://example.org/ If that fails, stop.",
    ]


def test_a_numbered_question_is_an_faq_entrys_heading() -> None:
    text = "7.10 How do I convert factors to numeric?\nIt may happen that data come in as factors."
    assert kinds_and_texts(text) == [
        ("heading", "7.10 How do I convert factors to numeric?"),
        ("prose", "It may happen that data come in as factors."),
    ]
    assert not is_heading("Why is this so? Nobody knows, and the manual does not say why.")


def test_markdown_headings_fences_and_tables() -> None:
    """A .md file is read as it is: "## Title" is a heading (a root prompt "# apt-get ..." is
    not), a fenced block is code whatever its lines look like, a table row is no sentence."""
    text = (
        "# Installing Widget\n\n"
        "Widget needs Python 3.10 or newer. Install it with pip:\n\n"
        "```bash\n# as root\npip install widget\n```\n\n"
        "## Configuration ##\n\n"
        "| Option | Default |\n|---|---|\n| threads | 2 |\n\n"
        "# apt-get install widget\n"
    )
    got = kinds_and_texts(text)
    assert got[:5] == [
        ("heading", "Installing Widget"),
        ("prose", "Widget needs Python 3.10 or newer."),
        ("prose", "Install it with pip:"),
        ("code", "# as root pip install widget"),
        ("heading", "Configuration"),
    ]
    assert all(kind == "code" for kind, _ in got[5:])


def test_markdown_section_titles_and_link_definitions() -> None:
    """A "##" title is a heading even when it is not in title case; link reference
    definitions at a file's end are no sentence to quote (Node.js's readline.md)."""
    text = (
        "## Example: Read file stream line-by-line\n\n"
        "A common use case for `readline` is to consume an input file one line at a time.\n\n"
        "[`'line'`]: #event-line\n[`fs.ReadStream`]: fs.md#class-fsreadstream\n"
        '[reading files]: #example-read-file "Reading files"\n'
    )
    got = kinds_and_texts(text)
    assert got[:2] == [
        ("heading", "Example: Read file stream line-by-line"),
        (
            "prose",
            "A common use case for `readline` is to consume an input file one line at a time.",
        ),
    ]
    assert [kind for kind, _ in got[2:]] == ["code"]


def test_a_passage_that_starts_inside_a_fenced_block() -> None:
    """A chunk of a Markdown file may start in the middle of a code block: its closing fence
    does not open one, so the prose after it stays prose (text from Node.js's path.md)."""
    opener_later = (
        "path.isAbsolute('.'); // false\n```\n\n"
        "The `path.join()` method joins all given `path` segments together.\n\n"
        "```js\npath.join('/foo', 'bar');\n```\n"
    )
    got = kinds_and_texts(opener_later)
    assert got == [
        ("code", "path.isAbsolute('.'); // false"),
        ("prose", "The `path.join()` method joins all given `path` segments together."),
        ("code", "path.join('/foo', 'bar');"),
    ]
    only_bare = "x = compute(y);\nprint(x)\n```\n\nThe result is printed once.\n"
    assert [s.kind for s in split_sentences(only_bare)] == ["code", "prose"]
    ends_inside = "Run it as follows:\n\n```\nwidget --run\nwidget --stop\n"
    assert [s.kind for s in split_sentences(ends_inside)] == ["prose", "code"]


def test_each_sentence_spans_its_own_text() -> None:
    """A sentence ending in inline code ("`config.toml`.") does not swallow the next one's
    span (the span is what a citation's page is read from)."""
    text = "The file lives in `~/.config/w/config.toml`. Set `threads = 4` to use four threads."
    got = split_sentences(text)
    assert [text[s.start : s.end] for s in got] == [
        "The file lives in `~/.config/w/config.toml`.",
        "Set `threads = 4` to use four threads.",
    ]


def test_a_symbol_fonts_bullet_is_a_list_item() -> None:
    """gnuplot's manual extracts its bullets as U+0088; other PDFs give private-use points."""
    text = (
        "The term is written using a superscript.\n"
        "\x88 Command scripts may hold data.\n\uf0b7 So may files."
    )
    assert kinds_and_texts(text) == [
        ("prose", "The term is written using a superscript."),
        ("list", "Command scripts may hold data."),
        ("list", "So may files."),
    ]


def test_each_option_of_a_definition_list_is_a_sentence() -> None:
    """Manuals list options as "-x text." one after another; a negative number is no option."""
    text = "-d file True if it is a directory. -e file True if it exists. It is -5 degrees now."
    assert texts(text) == [
        "-d file True if it is a directory.",
        "-e file True if it exists.",
        "It is -5 degrees now.",
    ]


def test_data_lines_are_code_not_sentences() -> None:
    """A hex dump or a formula as extracted is shown after the sentence that introduces it,
    never quoted as a sentence; a sentence with a few numbers stays prose."""
    text = (
        "The example would create this magic file:\n"
        "00000000 4d 49 4d 45 2d 4d 61 67 69 63 00 0a 5b 35 30 3a |MIME-Magic..[50:|\n\n"
        "(xB )1 = 11(xN )1 + 12(xN )2 + : : : + 1n(xN )n\n\n"
        "It has 3 values: 1, 2 and 3 in the list of all the values."
    )
    got = [s.kind for s in split_sentences(text)]
    assert got == ["prose", "code", "code", "prose"]


def test_markdown_headings_skip_fenced_code() -> None:
    text = "## Install\n\nRun it.\n\n```sh\n# not a heading\n```\n\n### `path.join()`\n"
    assert [title for _, title in markdown_headings(text)] == ["Install", "`path.join()`"]
    assert markdown_headings(text)[0][0] == 0


def test_citation_locations() -> None:
    assert location(4) == "page 4"
    assert location(4, 5) == "pages 4-5"
    assert location(1, 1, "Install") == "§ Install"  # a Markdown file is one page
    assert location(3, 3, "Install") == "page 3, § Install"  # ... unless it has form feeds
    assert title("**Step** `path.join([...paths])`") == "Step path.join([...paths])"


def test_a_link_on_its_own_line_stays_in_its_sentence() -> None:
    text = (
        "APT is maintained in git, the official repository being located at\n"
        "https://salsa.debian.org/apt-team/apt,\n"
        "but also available at other locations like GitHub.\n"
        "text/x-diff:*.patch\n"
    )
    got = split_sentences(text)
    assert [(s.kind, s.text) for s in got] == [
        (
            "prose",
            "APT is maintained in git, the official repository being located at "
            "https://salsa.debian.org/apt-team/apt, but also available at other locations "
            "like GitHub.",
        ),
        ("code", "text/x-diff:*.patch"),
    ]


def test_a_wrapped_word_or_code_span_end_is_prose_not_code() -> None:
    text = (
        "CVS users may read the guide (`man gitcvs-migration` if git is\n"
        "installed).\n"
        "Each command has a page: `git help\n"
        "<commandname>`.\n"
        "glp_create_prob(P);\n"
    )
    got = kinds_and_texts(text)
    assert got == [
        ("prose", "CVS users may read the guide (`man gitcvs-migration` if git is installed)."),
        ("prose", "Each command has a page: `git help <commandname>`."),
        ("code", "glp_create_prob(P);"),
    ]


def test_a_passage_cut_from_inside_a_code_block_is_code() -> None:
    """A chunk of a Markdown file that starts and ends inside a fenced block has no fence
    to say so: a line that opens a bracket ("stdio: [") or carries a line comment after code
    ("0, // Use parent's stdin for child.") is code, not a sentence to quote. Prose that
    mentions brackets or a URL stays prose."""
    text = (
        "const subprocess = child_process.spawn('ls', {\n  stdio: [\n"
        "    0, // Use parent's stdin for child.\n"
        "    'pipe', // Pipe child's stdout to parent.\n  ],\n});"
    )
    assert {s.kind for s in split_sentences(text)} == {"code"}
    for prose in (
        "See the list of options [\nbelow] for details.",
        "Visit https://example.org // the site.",
        "A value (see [\nthe table]) is used.",
    ):
        assert [s.kind for s in split_sentences(prose)] == ["prose"], prose


def test_numbered_headings_of_a_pdf_without_bookmarks() -> None:
    text = (
        "2.1. NAME\nbzip2 compresses files.\n3.5.1. BZ2_bzBuffToBuffCompress\n"
        "4.1 Limitations of the compressed file format\n2. Load the data first\n"
        "3.14 is the value of pi used here\n3.2 Error handling . . . . . . . . 12\n"
        "1.2 Sentences end with a period.\n"
    )
    assert [h for _, h in numbered_headings(text)] == [
        "2.1. NAME",
        "3.5.1. BZ2_bzBuffToBuffCompress",
        "4.1 Limitations of the compressed file format",
    ]
    assert all(text[at:].startswith(h) for at, h in numbered_headings(text))


def test_eg_and_ie_without_their_inner_dots_do_not_end_a_sentence() -> None:
    """Valgrind's manual: "(eg. 20 to 30 times)" was cut after "eg.", and the answer to "How
    much slower does my program run under Memcheck?" with it."""
    text = "Your program will run much slower (eg. 20 to 30 times) than normal. It uses more."
    assert texts(text) == [
        "Your program will run much slower (eg. 20 to 30 times) than normal.",
        "It uses more.",
    ]
    assert texts("They count as errors, ie. they are counted. Next.")[0].endswith("counted.")


def test_a_sentences_start_wrapped_onto_its_own_line_is_not_a_title() -> None:
    """A short capitalised line read as a title, though the sentence goes on in the next
    line with a function word: one sentence. A title followed by text that starts with a
    lower-case name (gnuplot's "Iteration" / "gnuplot supports ...", GLPK's "Synopsis" / "void
    glp_load_matrix(...)") stays a title."""
    text = (
        "This allows\nan external GNU GDB debugger to control your program. "
        "--vgdb=full incurs significant overheads."
    )
    assert kinds_and_texts(text) == [
        ("prose", "This allows an external GNU GDB debugger to control your program."),
        ("prose", "--vgdb=full incurs significant overheads."),
    ]
    assert kinds_and_texts("Iteration\ngnuplot supports command iteration.")[0] == (
        "heading",
        "Iteration",
    )
    assert kinds_and_texts("Synopsis\nvoid glp_load_matrix(glp_prob *P);")[0] == (
        "heading",
        "Synopsis",
    )
    assert kinds_and_texts("SYNOPSIS\nfor file in list")[0] == ("heading", "SYNOPSIS")
    # a link's text read as a title, and the sentence it starts (pyenv's README)
    assert texts("Install Python build dependencies\nbefore attempting to install Python.") == [
        "Install Python build dependencies before attempting to install Python."
    ]


def test_a_wrapped_function_signature_ends_as_code() -> None:
    """Nettle's manual: a signature wrapped after its last parameter's type; the line that
    closes it is code, not the start of the description after it."""
    text = (
        "[Function]void sha256_digest (struct sha256_ctx *ctx , size_t length , uint8_t\n"
        "*digest )\nPerforms final processing and extracts the message digest."
    )
    assert kinds_and_texts(text) == [
        ("code", "[Function]void sha256_digest (struct sha256_ctx *ctx , size_t length , "
                 "uint8_t *digest )"),
        ("prose", "Performs final processing and extracts the message digest."),
    ]  # fmt: skip
    # a closing bracket in a sentence after a code line that leaves none open is prose
    assert kinds_and_texts("x <- f(1)\nthe value (so far) is kept.")[1][0] == "prose"


def test_a_paragraph_that_starts_with_a_lower_case_name_is_a_new_sentence() -> None:
    """A README's paragraph may start with its project's name ("pyenv lets you ..."): after a
    finished sentence, a blank line ends it. A sentence cut by a page break (no closing
    punctuation before the blank line) still goes on."""
    assert texts("Join us on the chat.\n\npyenv lets you switch versions.") == [
        "Join us on the chat.",
        "pyenv lets you switch versions.",
    ]
    assert texts("a constant overhead in the region of\n\nfifty bytes.") == [
        "a constant overhead in the region of fifty bytes."
    ]


def test_a_web_pages_heading_with_its_permalink_mark_is_a_heading() -> None:
    """A documentation page printed to PDF keeps the "#" or pilcrow after each heading."""
    text = (
        "myEmitter.emit('event', 'a', 'b');copy\n"
        "Asynchronous vs. synchronous#\n"
        "The EventEmitter calls all listeners synchronously.\n"
        "3.1. Versions\u00b6\n"
        "At any given time, python3 is the default.\n"
        "See https://en.wikipedia.org/wiki/R_programming_language#\n"
        "Hearth is not written in C#\n"
    )
    got = [(s.kind, s.text) for s in split_sentences(text)]
    assert got[:5] == [
        ("code", "myEmitter.emit('event', 'a', 'b');copy"),  # the page's Copy button
        ("heading", "Asynchronous vs. synchronous"),
        ("prose", "The EventEmitter calls all listeners synchronously."),
        ("heading", "3.1. Versions"),
        ("prose", "At any given time, python3 is the default."),
    ]
    # a link cut at its fragment and a language's name keep their "#"
    assert [text[-1] for _, text in got[5:]] == ["#", "#"]


def test_a_list_item_that_ends_short_of_the_line_ends_before_a_capital() -> None:
    """An API page's parameter list: items without a period, then the paragraph."""
    text = (
        "• eventName <string> | <symbol> The name of the event being listened for\n"
        "• listener <Function> The event handler function\n"
        "The EventEmitter instance will emit its own 'newListener' event before a listener\n"
        "is added to its internal array of listeners. The fact that the event is triggered\n"
        "• A wrapped item runs on over the line's whole width and then goes on into its\n"
        "Second line, which a name starts.\n"
    )
    got = [(s.kind, s.text) for s in split_sentences(text)]
    assert got[1] == ("list", "listener <Function> The event handler function")
    assert got[2][1].startswith("The EventEmitter instance will emit")
    assert got[-1] == (
        "list",
        "A wrapped item runs on over the line's whole width and then goes on into its "
        "Second line, which a name starts.",
    )


def test_a_long_passage_splits_in_linear_time() -> None:
    """Looking ahead from every line, and searching the whole sentence so far for a line-end
    hyphen at every line, made a long code block or sentence quadratic (2,000 lines of one
    sentence: 4.4 s). Counted in regex searches, not timed: no timed assertion in tests."""
    import rag.line_joins as line_joins

    calls = 0
    real = line_joins._HYPHEN_END

    class Counting:
        def search(self, text: str) -> object:
            nonlocal calls
            calls += len(text)  # characters searched
            return real.search(text)

    line_joins._HYPHEN_END = Counting()  # type: ignore[assignment]
    try:
        split_sentences(("word " * 10 + "\n") * 2000)
        assert calls < 2000 * 20  # each line's last word, not everything before it
        calls = 0
        split_sentences("docu-\n" * 2000)  # one word of 8,000 letters: its end only
    finally:
        line_joins._HYPHEN_END = real
    assert calls < 2000 * 450


def test_the_first_sentence_of_each_list_item_opens_it() -> None:
    from rag.sentences import opens_item

    text = (
        "There are three kinds:\n\n"
        "* Explicit triggers. These are run by hand.\n"
        "2. File triggers. These run by themselves.\n"
        "* `interest` - Specifies the file.\n\n"
        "Nothing else."
    )
    got = [(s.text, opens_item(text, s)) for s in split_sentences(text)]
    assert got == [
        ("There are three kinds:", False),
        ("Explicit triggers.", True),
        ("These are run by hand.", False),
        ("File triggers.", True),
        ("These run by themselves.", False),
        ("`interest` - Specifies the file.", True),  # a code span's mark before it
        ("Nothing else.", False),
    ]


def test_a_footnote_at_a_pages_foot_is_not_part_of_the_list_item_above_it() -> None:
    """R's installation manual: "... is part of R itself and not otherwise available.\n3 If a
    proxy needs to be set, see ?download.file." was read as one list item."""
    text = (
        "* The package is part of R itself and not otherwise available.\n"
        "3 If a proxy needs to be set, see ?download.file.\n"
        "* The package is not in the available repositories.\n"
    )
    assert kinds_and_texts(text) == [
        ("list", "The package is part of R itself and not otherwise available."),
        ("prose", "3 If a proxy needs to be set, see ?download.file."),
        ("list", "The package is not in the available repositories."),
    ]


def test_a_title_wrapped_onto_a_short_line_in_lower_case_is_one_heading() -> None:
    """The Debian FAQ's "Keeping your Debian system" / "up-to-date": the tail was read into
    the chapter's first sentence ("up-to-date One of Debian's goals ...")."""
    text = (
        "Chapter 9\nKeeping your Debian system\nup-to-date\n"
        "One of Debian's goals is to provide a consistent upgrade path. We always\ndo our best."
    )
    got = [(s.kind, s.text) for s in split_sentences(text)]
    assert got[1] == ("heading", "Keeping your Debian system up-to-date")
    assert got[2] == ("prose", "One of Debian's goals is to provide a consistent upgrade path.")


def test_a_url_wrapped_before_its_files_extension_is_one_url() -> None:
    """The Debian FAQ: "(https://lists.debian.org/debian-user/1997/04/msg00011." / "html) by
    Bruce Perens" was quoted as "msg00011. html"."""
    text = "It was made (https://lists.debian.org/1997/msg00011.\nhtml) by Bruce Perens."
    got = [s.text for s in split_sentences(text)]
    assert got == ["It was made (https://lists.debian.org/1997/msg00011.html) by Bruce Perens."]


def test_a_listing_printed_with_its_line_numbers_is_code() -> None:
    """DocBook and LaTeX print a listing's line numbers: "1 \\documentclass..." read as a
    numbered heading, and the lines after it as prose with code spans."""
    text = (
        "To this end, we create two groups of questions.\n"
        "1 \\documentclass[a4paper]{article}\n2\n3 \\usepackage[utf8x]{inputenc}\n"
        "4 \\begin{document}\n5 In which continent is Paris?\n"
    )
    assert kinds_and_texts(text) == [
        ("prose", "To this end, we create two groups of questions."),
        (
            "code",
            "1 \\documentclass[a4paper]{article} 2 3 \\usepackage[utf8x]{inputenc} "
            "4 \\begin{document} 5 In which continent is Paris?",
        ),
    ]
    # a contents page and a numbered list of steps number their lines too: not code
    steps = "1 Open the project.\n2 Print the sheets.\n3 Scan the answers.\n"
    assert all(k != "code" for k, _ in kinds_and_texts(steps))


def test_a_listings_code_is_shown_without_its_line_numbers() -> None:
    listing = "1 \\documentclass{article}\n2\n3 \\usepackage[T1]{fontenc}\n4 \\begin{document}"
    assert without_line_numbers(listing) == (
        "\\documentclass{article}\n\n\\usepackage[T1]{fontenc}\n\\begin{document}"
    )
    # code whose lines merely start with numbers keeps them
    assert without_line_numbers("x = 1\n2 + 3\n4") == "x = 1\n2 + 3\n4"
    assert without_line_numbers("10 PRINT X\n20 GOTO 10") == "10 PRINT X\n20 GOTO 10"


def test_a_numbered_title_in_lower_case_is_a_heading_after_a_finished_sentence() -> None:
    text = (
        "Several different packages are available for this purpose:\n9.1.1 aptitude\n"
        "aptitude is the recommended package manager.\n"
    )
    assert kinds_and_texts(text)[1] == ("heading", "9.1.1 aptitude")
    # a sentence wrapped before a number goes on
    wrapped = (
        "The whiskers extend to the furthest points still within\n1.5 inter-quartile ranges "
        "of q1 and q3. Beyond the whiskers, outliers are shown.\n"
    )
    assert all(k == "prose" for k, _ in kinds_and_texts(wrapped))


def test_a_bullet_without_its_space_opens_an_item() -> None:
    text = "Convert the scans to images.\n\u2022\u201cCrop\u201d each image into two pages.\n"
    assert kinds_and_texts(text)[-1] == ("list", "\u201cCrop\u201d each image into two pages.")


def test_a_scripts_lines_between_its_comments_are_code() -> None:
    """Gri's examples: commands in plain words between comment lines were quoted as a
    sentence with code spans in it."""
    text = (
        "Here is an example:\n# Set the tics to be 1.5 mm.\nset tic size 0.15 # centimetres\n"
        "draw axes 1\n# Now draw the actual curve.\ndraw curve\n"
    )
    kinds = [k for k, _ in kinds_and_texts(text)]
    assert kinds == ["prose", "code"]
    # a sentence that goes on between two lines of code stays prose
    r_text = "For example with\nz <- 0:9\nwe could put\ndigits <- as.character(z)\nafter which."
    assert "we could put" not in " ".join(t for k, t in kinds_and_texts(r_text) if k == "code")


def test_many_numbered_lines_split_in_linear_time() -> None:
    """Each period's abbreviation check searched the whole passage before it: 2,000 numbered
    lines ("12 Open the project.") took 6 s. Counted in characters searched, not timed."""
    import re

    import rag.sentences as sentences

    searched = 0

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(re, name)

        def search(self, pattern: str, text: str) -> object:
            nonlocal searched
            searched += len(text)
            return re.search(pattern, text)

    sentences.re = Counting()  # type: ignore[assignment]
    try:
        split_sentences("\n".join(f"{i} Open the project number {i}." for i in range(1, 2000)))
    finally:
        sentences.re = re
    assert searched < 2000 * 100  # a few dozen characters per period


def test_a_file_name_wrapped_before_its_extension_is_one_word() -> None:
    text = "To disable it, add SASL_NOCANON on to ldap.\nconf, or set the variable.\n"
    assert texts(text) == ["To disable it, add SASL_NOCANON on to ldap.conf, or set the variable."]
    # a sentence that ends before a word that merely looks like an extension keeps its space
    assert "log. log" in " ".join(texts("Messages go to the log.\nlog files rotate weekly.\n"))
