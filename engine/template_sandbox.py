"""A Jinja sandbox whose renders are bounded in time and size and can be cancelled.

A chat template comes from the model file, so it is untrusted: `{% for i in range(100000) %}
{% for j in range(100000) %}{% endfor %}{% endfor %}` never ends and `'A' * 300000000` takes
gigabytes, and Jinja's own sandbox stops neither. Rendering happens in-process, on the engine
thread, with a check at every place where template code can spend time or memory:

- every loop (`{% for %}` is rewritten to iterate through `hearth_loop`), every call (macros,
  methods, globals) and every intercepted operator checks the deadline and the cancel event;
- every operation that can make a large string, list or number (`*`, `+`, `%`, `**`, `~`,
  `{% set %}` blocks, filters, str methods and str.format) is refused *before* it runs when
  its result would pass the size limit, and what they make is added up against a total;
- the output is streamed and counted chunk by chunk.

Why not a separate process that can be killed: a turn renders the template 10 to 20 times
(engine.prompt.fit_prompt's binary searches count tokens of candidate prompts), and these
checks cost microseconds per render where a round trip to another process costs a
millisecond or more, plus a process to start, watch and shut down from the window's engine
thread. Between two checks only bounded work runs, so a check is never far away.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

# Real chat templates render in milliseconds; these limits are far above any of them.
RENDER_TIME_LIMIT_S = 5.0
MIN_OUTPUT_CHARS = 4 * 2**20  # the prompt may be larger when the conversation is (see below)
PRODUCED_FACTOR = 64  # everything the operations make, all together, against the output limit
_MAX_INT_BITS = 1 << 16  # numbers of at most 65,536 bits (about 20,000 digits)
_CHECK_EVERY = 64  # loop items between two looks at the clock


class TemplateLimitError(Exception):
    """A render went past a limit; the message says which, for the user."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"The model's chat template {what}, so Hearth stopped it. The template in this "
            "model file is broken or hostile: choose another model, or get this one from "
            "another source."
        )


class RenderCancelled(Exception):  # noqa: N818 - not an error: Stop was pressed
    """The cancel event was set while the template rendered."""


@dataclass
class Budget:
    deadline: float
    cancel: threading.Event | None
    max_chars: int
    max_produced: int
    time_limit_s: float
    produced: int = 0
    ticks: int = 0

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise RenderCancelled
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"took more than {self.time_limit_s:g} s to build the prompt")

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % _CHECK_EVERY == 0:
            self.check()

    def make(self, size: int) -> None:
        """Account for an object of `size` characters (or items) about to be made."""
        self.tick()
        self.produced += size
        if size > self.max_chars or self.produced > self.max_produced:
            raise TemplateLimitError(
                f"makes far more text than a prompt needs (over {self.max_chars // 2**20} MB)"
            )


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


def _current() -> Budget:
    budget = _budget.get()
    if budget is None:  # a template used outside render(): no limits were set up
        raise TemplateLimitError("was rendered without limits (a bug in Hearth)")
    return budget


_SIZED = (str, list, tuple, dict, set, bytes)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, _SIZED) else 1


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


_WIDTH = re.compile(r"\d+")


def _check_widths(fmt: str, args: Iterable[Any]) -> None:
    """A format string's widths and precisions ('%0900000000d', '{:>900000000}') and '*' widths
    given as arguments, before formatting makes a string that large."""
    budget = _current()
    widths = [int(w) for w in _WIDTH.findall(fmt) if len(w) <= 12]
    if any(len(w) > 12 for w in _WIDTH.findall(fmt)):
        widths.append(budget.max_chars + 1)
    numbers = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    budget.make(len(fmt) + max([0, *widths, *numbers]))


def _check_binop(op: str, left: Any, right: Any) -> None:
    budget = _current()
    if op == "+":
        if isinstance(left, _SIZED):  # the common case in templates: text + text
            budget.make(len(left) + _size(right))
        else:
            budget.tick()
    elif op == "*":
        if isinstance(left, int) and isinstance(right, int):
            if _int_bits(left) + _int_bits(right) > _MAX_INT_BITS:
                raise TemplateLimitError("computes an enormous number")
            budget.tick()
        elif isinstance(right, int):
            budget.make(_size(left) * max(right, 0))
        elif isinstance(left, int):
            budget.make(_size(right) * max(left, 0))
        else:
            budget.tick()
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
        if right > 0 and right * _int_bits(left) > _MAX_INT_BITS:
            raise TemplateLimitError("computes an enormous number")
        budget.tick()
    elif op == "%" and isinstance(left, str):
        _check_widths(left, right if isinstance(right, tuple) else (right,))
    else:
        budget.tick()


def _estimate_replace(text: str, old: str, new: str) -> int:
    if not old:
        return len(text) + (len(text) + 1) * len(new)
    return len(text) + text.count(old) * max(len(new) - len(old), 0)


def _check_str_method(name: str, text: str, args: tuple[Any, ...]) -> None:
    budget = _current()
    if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
        budget.make(max(len(text), args[0]))
    elif name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        budget.make(len(text) * max(tab, 1))
    elif name == "replace" and len(args) >= 2:
        budget.make(_estimate_replace(text, str(args[0]), str(args[1])))
    elif name == "join" and args:
        items = list(args[0]) if not isinstance(args[0], list | tuple) else args[0]
        budget.make(sum(_size(i) for i in items) + len(text) * max(len(items) - 1, 0))


def _checked_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the budget, refuses size arguments past the limit (`center(10**9)`,
    `indent(width=...)`) and counts what it returns."""
    passes_arg = hasattr(func, "jinja_pass_arg")

    @wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        budget = _current()
        budget.tick()
        value_at = 1 if passes_arg else 0
        value = args[value_at] if len(args) > value_at else None
        rest = list(args[value_at + 1 :]) + list(kwargs.values())
        if any(isinstance(a, int) and a > budget.max_chars for a in rest):
            raise TemplateLimitError(f"asks the '{name}' filter for an enormous result")
        if name == "replace" and isinstance(value, str) and len(rest) >= 2:
            budget.make(_estimate_replace(value, str(rest[0]), str(rest[1])))
        elif name == "join" and value is not None:
            items = list(value)
            sep = str(rest[0]) if rest else ""
            budget.make(sum(len(str(i)) for i in items) + len(sep) * max(len(items) - 1, 0))
            args = (*args[:value_at], items, *args[value_at + 1 :])
        elif name == "format" and isinstance(value, str):
            _check_widths(value, rest)
        result = func(*args, **kwargs)
        if isinstance(result, str | list):
            budget.make(len(result))
        return result

    return checked


def _loop(iterable: Any) -> Iterator[Any]:
    """What every `{% for %}` iterates through: the clock and the cancel event are looked at
    while it runs, however little the loop body does."""
    budget = _current()
    budget.check()
    for item in iterable:
        budget.tick()
        yield item


def _concat_parts(*parts: Any) -> str:
    """`a ~ b`: sized before it is joined."""
    texts = [str(p) for p in parts]
    _current().make(sum(len(t) for t in texts))
    return "".join(texts)


def _bounded_range(*args: int) -> range:
    _current().check()
    return safe_range(*args)  # at most 100,000 items, Jinja's own limit; _loop does the rest


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the checks described in the module's docstring."""

    intercepted_binops = frozenset({"*", "+", "%", "**", "//", "/", "-"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.globals["hearth_loop"] = _loop
        self.globals["hearth_concat"] = _concat_parts
        for name in ("lipsum",):  # makes text of any size on request; templates never use it
            self.globals.pop(name, None)
        self.filters = {name: _checked_filter(name, f) for name, f in self.filters.items()}
        self.concat = self._checked_concat  # type: ignore[method-assign]

    @staticmethod
    def _checked_concat(parts: Iterable[str]) -> str:
        # {% set x %}...{% endset %}, macro bodies and caller(): sized before they are joined.
        items = list(parts)
        _current().make(sum(len(p) for p in items))
        return "".join(items)

    def add_filter(self, name: str, func: Callable[..., Any]) -> None:
        self.filters[name] = _checked_filter(name, func)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            iterable = loop.iter
            assert isinstance(iterable, nodes.Expr)  # the parser makes nothing else here
            loop.iter = self._global_call("hearth_loop", [iterable], loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            parts = concat.nodes
            concat.nodes = [self._global_call("hearth_concat", parts, concat.lineno)]
        return tree

    def _global_call(self, func: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.Name(func, "load"), args, [], None, None, lineno=lineno)
        call.set_lineno(lineno)
        call.set_environment(self)
        return call

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _current().tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(getattr(__obj, "__name__", ""), owner, args)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_widths(fmt, [*args, *kwargs.values()])
            result = wrapped(*args, **kwargs)
            _current().make(len(result))
            return result

        return checked


def render(
    template: jinja2.Template,
    context: dict[str, Any],
    *,
    cancel: threading.Event | None = None,
    time_limit_s: float = RENDER_TIME_LIMIT_S,
    input_chars: int = 0,
) -> str:
    """Render `template` (compiled by a BoundedSandbox) within the limits. The output may be
    up to MIN_OUTPUT_CHARS, or twice the conversation's text when that is more. Raises
    TemplateLimitError, RenderCancelled, or what Jinja raises."""
    max_chars = max(MIN_OUTPUT_CHARS, 2 * input_chars)
    budget = Budget(
        time.monotonic() + time_limit_s,
        cancel,
        max_chars,
        max_chars * PRODUCED_FACTOR,
        time_limit_s,
    )
    token = _budget.set(budget)
    try:
        out: list[str] = []
        total = 0
        for chunk in template.generate(**context):
            total += len(chunk)
            budget.tick()
            if total > max_chars:
                budget.make(total)  # raises
            out.append(chunk)
        return "".join(out)
    finally:
        _budget.reset(token)
