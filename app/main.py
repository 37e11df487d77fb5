"""The desktop window's entry point (`hearth`, `hearth gui`, the `hearth-gui` script).

Start-up order keeps the window fast: Qt, the store and the settings only; the window is
shown; then the controller recovers interrupted answers and loads the model on the engine
thread. llama_cpp and chromadb are imported later, on their own threads.

One window per data folder: starting Hearth again brings the running window to the front
(app.single_instance). Options: ``--screenshot PATH`` runs a scripted exchange with the
model, saves a PNG of the window and exits (for the README). ``--report-startup`` prints one
JSON line with the time of the first paint and exits (used by `hearth bench ui`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - the window's modules are imported when it is built
    from PySide6.QtWidgets import QApplication

    from app.controller import ChatController
    from app.engine_worker import EngineFactory
    from app.error_presenter import ErrorPresenter
    from app.services import Services
    from app.store import ChatStore
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

SCREENSHOT_PROMPT = (
    "Give me a Markdown table of three planets and their moons, then a short Python "
    "function that prints them."
)
SCREENSHOT_TIMEOUT_S = 120.0


@dataclass
class Gui:
    """Everything the window needs, built by `build_gui` (tests and benchmarks use it too)."""

    app: QApplication
    window: MainWindow
    controller: ChatController
    presenter: ErrorPresenter
    store: ChatStore
    services: Services

    def close(self) -> None:
        self.window.close()
        self.controller.shutdown()
        self.store.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hearth-gui", description="Hearth desktop window")
    parser.add_argument(
        "--screenshot",
        metavar="PATH",
        type=Path,
        help=("send one scripted message, save a PNG of the window, then exit"),
    )
    parser.add_argument("--prompt", default=SCREENSHOT_PROMPT, help="message for --screenshot")
    parser.add_argument(
        "--size", metavar="WxH", help="window size for --screenshot (e.g. 1024x700)"
    )
    parser.add_argument(
        "--documents", action="store_true", help="--screenshot with the Documents panel open"
    )
    parser.add_argument("--dark", action="store_true", help="--screenshot in a dark palette")
    parser.add_argument("--report-startup", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_gui(engine_factory: EngineFactory | None = None, interactive_errors: bool = True) -> Gui:
    """Create (or reuse) the QApplication, open the store, build the window (not shown)."""
    from PySide6.QtWidgets import QApplication

    from app.controller import ChatController
    from app.error_presenter import ErrorPresenter
    from app.paths import get_paths
    from app.settings import Settings
    from app.store import ChatStore
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["hearth"])
    QApplication.setApplicationName("Hearth")
    QApplication.setApplicationDisplayName("Hearth")
    QApplication.setDesktopFileName("hearth")
    paths = get_paths().ensure()
    settings = Settings.load(paths.settings_file)
    store = ChatStore(paths.chat_db)
    from app.docs_worker import DocsConfig, DocsHost

    # Background threads (indexing, the token loop) run Python too; a 1 ms GIL switch
    # interval (default 5 ms) roughly halves the GUI thread's worst waits for the GIL.
    sys.setswitchinterval(0.001)
    docs = DocsHost(DocsConfig.from_settings(paths, settings))
    controller = ChatController(store, settings, paths, engine_factory=engine_factory, docs=docs)
    presenter = ErrorPresenter(None, interactive=interactive_errors)
    from app.model_jobs import JobManager
    from app.server_host import ServerHost
    from app.services import Services

    server = ServerHost(controller, parent=controller)  # follows Settings ▸ Server
    controller.settingsApplied.connect(server.apply_settings)
    server.apply_settings(settings)
    services = Services(paths, store, controller, presenter, JobManager(controller), server)
    # One relay to the presenter for every error that belongs to no request.
    for source in (controller, docs):
        source.errorRaised.connect(presenter.present)
    window = MainWindow(services)
    presenter.set_parent_widget(window)
    return Gui(app, window, controller, presenter, store, services)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from app.qt_deps import check_window_libraries

    problem = check_window_libraries()  # before Qt aborts with a list of plugin names
    if problem:
        sys.stderr.write(problem + "\n")
        return 1
    from PySide6.QtWidgets import QApplication, QMessageBox

    from engine.errors import HearthError

    guard = None
    if not (args.screenshot or args.report_startup):  # tools that may run beside a window
        from app.paths import get_paths
        from app.single_instance import SingleInstance

        _app = QApplication.instance() or QApplication(["hearth"])  # noqa: F841 (kept alive)
        guard = SingleInstance(get_paths().ensure().data)
        if not guard.acquire():
            if guard.notify_running():
                sys.stdout.write("Hearth is already running: its window is now in front.\n")
                return 0
            QMessageBox.warning(
                None,
                "Hearth",
                "Hearth is already running, but its window does not answer. Close it (or end "
                "the Hearth process) and start Hearth again.",
            )
            return 1
    try:
        gui = build_gui()
    except HearthError as exc:  # e.g. the chat history cannot be opened
        _app = QApplication.instance() or QApplication(["hearth"])  # noqa: F841 (kept alive)
        QMessageBox.critical(None, "Hearth", f"{exc.user_message}\n\n{exc.details}")
        return 1
    if guard is not None:
        from app.single_instance import bring_to_front

        window = gui.window
        guard.showRequested.connect(lambda: bring_to_front(window))
    # The model loads only once the window has painted: nothing delays the first frame.
    after_first_paint(gui.window, gui.controller.start)
    if args.report_startup:
        after_first_paint(gui.window, lambda: _report_startup(gui))
    elif not args.screenshot:
        from ui.welcome import show_welcome_once  # first start only; non-modal

        after_first_paint(gui.window, lambda: show_welcome_once(gui.window, gui.controller))
    if args.screenshot:
        _screenshot_window(gui, args)
    gui.window.show()
    if args.screenshot:
        _script_screenshot(gui, args.screenshot, args.prompt)
    try:
        rc = int(gui.app.exec())
    finally:
        gui.controller.shutdown()
        gui.store.close()
        if guard is not None:
            guard.release()
    docs = getattr(gui.controller, "docs", None)
    docs_stopped = docs is None or docs.wait_stopped(10.0)
    if not gui.controller.engine.wait_stopped(60.0) or not docs_stopped:
        # The window is gone and every message is saved; a load that never returns must
        # not turn into "QThread: Destroyed while thread is still running" and an abort.
        log.warning("the engine thread is still busy; exiting without waiting for it")
        logging.shutdown()
        os._exit(rc)
    return rc


def after_first_paint(window: Any, callback: Any) -> None:
    """Run `callback` from the event loop right after the window's first paint."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
            if event.type() == QEvent.Type.Paint:
                window.removeEventFilter(self)
                self.painted_at = time.time()
                QTimer.singleShot(0, callback)
            return False

    watcher = FirstPaint(window)
    window.installEventFilter(watcher)
    _WATCHERS.append(watcher)


_WATCHERS: list[Any] = []


def _report_startup(gui: Gui) -> None:
    """Print when the first paint happened (wall clock) and which heavy modules were loaded
    by then, then quit. `hearth bench ui` runs this in a subprocess."""
    painted = min(getattr(w, "painted_at", time.time()) for w in _WATCHERS)
    heavy = [m for m in ("llama_cpp", "chromadb", "pypdf", "onnxruntime") if m in sys.modules]
    sys.stdout.write(json.dumps({"first_paint_unix": painted, "heavy_modules": heavy}) + "\n")
    sys.stdout.flush()
    gui.window.close()


def _screenshot_window(gui: Gui, args: argparse.Namespace) -> None:
    """The window as --size, --documents and --dark ask (layout checks, README pictures)."""
    if args.dark:
        from ui.style import use_dark_palette

        use_dark_palette(gui.app)
    if args.size:
        width, _, height = args.size.partition("x")
        gui.window.resize(int(width), int(height))
    documents = gui.window.documents_ui
    if documents is not None:
        documents.dock.setVisible(args.documents)


def _script_screenshot(gui: Gui, path: Path, prompt: str) -> None:
    from PySide6.QtCore import QTimer

    controller = gui.controller
    state = {"sent": False, "saved": False}
    started = time.monotonic()

    def save() -> None:
        if state["saved"]:
            return
        state["saved"] = True
        path.parent.mkdir(parents=True, exist_ok=True)
        if not gui.window.grab().save(str(path), "PNG"):
            log.error("could not save the screenshot to %s", path)
        gui.window.close()

    def poll() -> None:
        if state["saved"]:
            return
        if time.monotonic() - started > SCREENSHOT_TIMEOUT_S:
            save()
            return
        if not state["sent"] and controller.model_state.value in ("ready", "failed"):
            state["sent"] = True
            gui.window.composer.set_text(prompt)
            gui.window.composer.send_button.click()
        QTimer.singleShot(100, poll)

    controller.generationFinished.connect(lambda *_: QTimer.singleShot(400, save))
    QTimer.singleShot(100, poll)


if __name__ == "__main__":
    sys.exit(main())
