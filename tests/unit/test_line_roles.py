"""Commands, titles in sentence case and numbered titles in extracted text, as manuals made
with AsciiDoc, DocBook and Texinfo print them (rag.line_roles, through rag.sentences)."""

from __future__ import annotations

from rag.line_roles import command_lines, is_numbered_section, is_plain_title
from rag.sentences import split_sentences

WIDE = "x" * 100  # a line as wide as the page's text


def kinds_and_texts(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in split_sentences(text)]


# The Network UPS Tools user manual (AsciiDoc, dblatex), page 30, as pypdf reads it
STATE_PATH = (
    "Create the state path directory for the driver(s) and server to use for storing UPS "
    "status data and other auxiliary files, and make it\n"
    "group-writable by the group of the system user you created.\n"
    "mkdir -p /var/state/ups\n"
    "chmod 0770 /var/state/ups\n"
    "chown root:nut /var/state/ups\n"
    "Ownership and permissions\n"
    "Set ownership data and permissions on your serial or USB ports that go to your UPS "
    "hardware.\n"
)


def test_commands_without_a_prompt_are_code_and_a_title_in_sentence_case_a_heading() -> None:
    assert kinds_and_texts(STATE_PATH) == [
        (
            "prose",
            "Create the state path directory for the driver(s) and server to use for storing "
            "UPS status data and other auxiliary files, and make it group-writable by the "
            "group of the system user you created.",
        ),
        ("code", "mkdir -p /var/state/ups chmod 0770 /var/state/ups chown root:nut /var/state/ups"),
        ("heading", "Ownership and permissions"),
        (
            "prose",
            "Set ownership data and permissions on your serial or USB ports that go to your "
            "UPS hardware.",
        ),
    ]


def test_a_bare_program_name_is_a_command_where_a_colon_introduces_it() -> None:
    text = (
        "Start the network data server:\nupsd\n"
        "Make sure it is able to connect to the driver(s) on your system.\n"
    )
    assert kinds_and_texts(text) == [
        ("prose", "Start the network data server:"),
        ("code", "upsd"),
        ("prose", "Make sure it is able to connect to the driver(s) on your system."),
    ]


def test_a_prompt_that_names_the_shell_starts_a_command() -> None:
    text = "He would type:\nshell% kinit david@EXAMPLE.COM\nPassword for david: ok.\n"
    assert ("code", "shell% kinit david@EXAMPLE.COM") in kinds_and_texts(text)
    # the prompt alone ends the session; the sentence after it is a sentence of its own
    text = "shell% kdestroy\nshell%\nIf you type your password, it is checked.\n"
    assert kinds_and_texts(text)[-1] == ("prose", "If you type your password, it is checked.")
    assert command_lines(["Done.", "100%", "of them"], ["prose"] * 3) == set()


def test_prose_that_wraps_onto_a_line_in_lower_case_stays_prose() -> None:
    lines = [
        "If you have used --prefix or similar, the paths will be different, and you must",
        "edit /etc/ups/ups.conf by hand",  # a sentence going on: the line before is unfinished
        "Each UPS needs a section there.",
        "the driver reads it at startup.",  # closing punctuation: a sentence's end
        "string1 != string2",  # a definition's term (Bash), not a command: no argument
        "True if the strings are not equal.",
        "The values are:",
        "for the port a path to the device",  # function words
    ]
    assert command_lines(lines, ["prose"] * len(lines)) == set()


def test_a_command_goes_on_after_code_even_with_english_keywords() -> None:
    lines = ["Example:", "set datafile columnheader", "plot for [i=2:4] DATA using 1:i"]
    assert command_lines(lines, ["prose"] * 3) == {1, 2}


def test_what_is_a_title_in_sentence_case() -> None:
    assert is_plain_title("State path creation", "you created.", "Create the path.", True)
    assert is_plain_title("String constants, string variables, and functions", None, "In", True)
    # a wrapped line of a sentence is not short; a sentence's start goes on in lower case
    assert not is_plain_title("State path creation", "you created.", "Create it.", False)
    assert not is_plain_title("Most people", "done.", "don't need it.", True)
    # after a line that does not end a sentence, it goes on with that sentence
    assert not is_plain_title("Network UPS Tools", "as described in", "The end.", True)
    # code, an address, a setting: no title
    assert not is_plain_title("LEN = strlen(VALUE)+1", "done.", "UTCTime: a string.", True)
    assert not is_plain_title("Report bugs to: help@gnu.org", None, "GNU home page.", True)
    assert not is_plain_title("Syntax", None, "Set it.", True)  # one word: is_heading's


def test_a_numbered_title_after_an_unfinished_line_is_a_heading() -> None:
    text = (
        "chown root:nut upsd.conf upsd.users\n"
        "References: man pages: upsd.conf(5), upsd.users(5), upsd(8)\n"
        "6.2.5 Starting the data server\n"
        "Start the network data server:\n"
    )
    assert ("heading", "6.2.5 Starting the data server") in kinds_and_texts(text)
    assert is_numbered_section("F.2.2 Post a patch", "If you have a patch.")
    assert not is_numbered_section("6.2.5 Starting the data server", "and then it goes on")
    assert not is_numbered_section("3 Starting", "Start it.")  # one level: a list's item


def test_a_sentence_is_not_split_inside_code_kept_inline() -> None:
    text = "The file starts with the line\n# is the comment. Anything else is data.\nhere."
    sentences = kinds_and_texts(text)
    assert sentences == [
        (
            "prose",
            "The file starts with the line `# is the comment. Anything else is data.` here.",
        )
    ]
