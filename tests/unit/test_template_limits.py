"""Chat templates are untrusted (they come from the model file): hostile ones end with a
ModelFileError that says what happened, within the time limit, and Stop ends a render.

The time limit is lowered in the tests that reach it so that they stay short; nothing here
asserts how long anything took (pytest-timeout catches a render that does not end)."""

from __future__ import annotations

import pytest
from stop_events import StopAfterPolls

from engine.errors import InvalidRequestError, ModelFileError
from engine.prompt import render_template
from engine.template_sandbox import RenderCancelled
from engine.types import ChatMessage

CHAT = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>"
MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is a GGUF file?")]


def render(template: str, **kw: object) -> str:
    return render_template(template, MESSAGES, **kw)  # type: ignore[arg-type]


def test_a_real_template_renders_as_before() -> None:
    assert render(CHAT) == ("<|system|>Be brief.\n<|user|>What is a GGUF file?\n<|assistant|>")


# Each makes gigabytes, or a number of millions of digits, in one step; refused before it runs.
TOO_LARGE = {
    "string times 300 million": "{{ 'A' * 300000000 }}",
    "list times 300 million": "{{ [1] * 300000000 }}",
    "doubling with ~": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "doubling with +": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "a set block of 100,000 megabytes": "{% set big = 'x' * 1000000 %}{% set b %}"
    "{% for i in range(100000) %}{{ big }}{% endfor %}{% endset %}",
    "output of 100,000 megabytes": "{% set big = 'x' * 1000000 %}"
    "{% for i in range(100000) %}{{ big }}{% endfor %}",
    "center filter": "{{ 'a'|center(1000000000) }}",
    "ljust method": "{{ 'a'.ljust(1000000000) }}",
    "printf width": "{{ '%0900000000d' % 1 }}",
    "printf star width": "{{ '%*d' % (900000000, 1) }}",
    "str.format width": "{{ '{:>900000000}'.format(1) }}",
    "format filter width": "{{ '%0900000000d'|format(1) }}",
    "replace the empty string": "{{ ('x' * 100000)|replace('', 'y' * 100000) }}",
    "join with a large separator": "{{ range(100000)|join('y' * 100000) }}",
    "expandtabs": "{{ ('\t' * 1000000).expandtabs(1000) }}",
    "indent filter": "{{ 'a\nb'|indent(1000000000) }}",
    "slice filter": "{{ [1, 2]|slice(1000000000)|list }}",
    "tojson indent": "{{ messages|tojson(indent=1000000000) }}",
    "power": "{{ 9 ** 99999999 }}",
    "repeated squaring": "{% set ns = namespace(n=3) %}{% for i in range(100) %}"
    "{% set ns.n = ns.n * ns.n %}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(TOO_LARGE))
def test_templates_that_make_too_much_are_stopped(name: str) -> None:
    with pytest.raises(ModelFileError) as err:
        render(TOO_LARGE[name] + CHAT)
    message = err.value.user_message
    assert message.startswith("The model's chat template ")
    assert "Hearth stopped it" in message and "choose another model" in message


LOOPS = {
    "range(100000) inside range(100000)": "{% for i in range(100000) %}"
    "{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "a string's characters inside themselves": "{% set s = 'x' * 100000 %}"
    "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "a macro in a loop": "{% macro m() %}{% endmacro %}{% for i in range(100000) %}"
    "{% for j in range(100000) %}{{ m() }}{% endfor %}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_templates_that_never_end_are_stopped_at_the_time_limit(name: str) -> None:
    with pytest.raises(ModelFileError) as err:
        render(LOOPS[name] + CHAT, time_limit_s=0.5)
    assert "took more than 0.5 s to build the prompt" in err.value.user_message


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_stop_ends_a_render(name: str) -> None:
    stop = StopAfterPolls(50)
    with pytest.raises(RenderCancelled):
        render(LOOPS[name] + CHAT, cancel=stop)  # default time limit: only Stop ends it
    assert stop.is_set()


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("", "produced an empty prompt"),
        ("{% for m in messages %}   {% endfor %}\n", "produced an empty prompt"),
        ("{% for m in messages %}<|{{ m.role }}|>{% endfor %}", "left your message out"),
        ("{{ messages[0].content }}", "left your message out"),  # the system prompt only
    ],
)
def test_a_prompt_without_the_message_says_so(template: str, says: str) -> None:
    with pytest.raises(ModelFileError) as err:
        render(template)
    assert says in err.value.user_message


@pytest.mark.parametrize(
    "template",
    [
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",  # recursion without end
        "{{ 1 / 0 }}",
        "{{ messages[0]['content'] + 1 }}",
        "{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}",
        "{{ lipsum(1000000000) }}",  # not offered: it makes text of any size
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    ],
)
def test_broken_templates_fail_with_a_reason(template: str) -> None:
    with pytest.raises(ModelFileError) as err:
        render(template + CHAT)
    assert "choose another model" in err.value.user_message


def test_raise_exception_still_refuses_with_the_templates_words() -> None:
    with pytest.raises(InvalidRequestError) as err:
        render("{{ raise_exception('Conversation roles must alternate') }}")
    assert "Conversation roles must alternate" in err.value.user_message


def test_a_long_conversation_may_make_a_long_prompt() -> None:
    """The size limit grows with the conversation: 3 MB of history is not refused."""
    long = [ChatMessage("user", "word " * 600_000), ChatMessage("user", "and now?")]
    text = render_template(CHAT, long)
    assert len(text) > 3_000_000
