"""Entry point of the installed build (PyInstaller runs this as the program's `__main__`).

    hearth                       the desktop window
    hearth COMMAND ...           any `hearth` command (chat, docs, models, ...)
    hearth --self-test [--json]  check the installation end to end (app/selftest.py)
    hearth --version
    hearth --report-startup      open the window, print start-up timings as JSON, exit

A frozen program has no Python interpreter to run `python -m MODULE`, so `sys.executable -m`
(used by engine/quantize.py to run its worker in a child process) is served here for Hearth's
own modules. multiprocessing's spawned workers (rag/extract.py) are served by freeze_support.
"""

from __future__ import annotations

import multiprocessing
import sys

OWN_PACKAGES = ("app.", "engine.", "rag.")
GUI_OPTIONS = ("--screenshot", "--report-startup")  # app/main.py's own options


def run_module(name: str, args: list[str]) -> int:
    """`hearth -m engine.quantize ...`: run one of Hearth's modules as __main__."""
    import runpy

    if not name.startswith(OWN_PACKAGES):
        sys.stderr.write(f"hearth: -m only runs Hearth's own modules, not {name!r}\n")
        return 2
    sys.argv = [sys.executable, *args]
    try:
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--self-test"]:
        from app.selftest import main as self_test

        return self_test(argv[1:])
    if argv[:1] == ["--version"]:
        from app.cli import version_text

        sys.stdout.write(version_text() + "\n")
        return 0
    if argv[:1] and argv[0].split("=")[0] in GUI_OPTIONS:
        from app.main import main as gui

        return gui(argv)
    if len(argv) >= 2 and argv[0] == "-m":
        return run_module(argv[1], argv[2:])
    from app.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()  # a spawned worker runs its task here and exits
    sys.exit(main(sys.argv[1:]))
