"""Load a model once in a short-lived child process before Hearth's own process does.

engine.gguf_check refuses the inconsistencies that make llama.cpp abort which we know of;
an architecture's own code may assert on others. So the first time a file is loaded, a
child (`python -m engine.load_probe FILE`) loads it, reads a text full of unusual
characters, computes a few tokens and exits. If llama.cpp aborts there (SIGABRT, SIGSEGV,
...), the file is damaged: Hearth says so, with llama.cpp's assertion, instead of dying.

The verdict is kept in Hearth's cache folder, keyed by a hash of the file's header (metadata
and tensor table: everything llama.cpp's asserts look at) and its size, so a file is
probed once, not at every load, and a copy or a renamed file is not probed again. What it
costs is measured in the issue's report: about half a second for the bundled models, once.
A probe that runs out of time or memory gives no verdict and the load goes on as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.errors import ModelFileError
from engine.gguf_file import GGUFHeader

log = logging.getLogger(__name__)

VERDICTS_FILE = "model-verdicts.json"
PROBE_TIMEOUT_S = 120.0  # plus the time to read the file from a slow disk, below
_CRASH_SIGNALS = {"SIGABRT", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL"}
_WINDOWS_CRASHES = {3, 0xC0000005, 0xC0000409, 0xC000001D, 0xC0000094}  # abort(), AV, ...
# Text the probe tokenizes: every kind of character a document or a chat may bring, so a
# vocabulary without the byte tokens a tokenizer falls back to fails here, not in the app.
PROBE_TEXT = (
    "Hello, world!\n\tTabs, \u00e9t\u00e9, \u0394\u03b5\u03bb\u03c4\u03b1, \u4f60\u597d, "
    "\u3053\u3093\u306b\u3061\u306f, \U0001f600\U0001f680, \u200b\ufeff, \x01\x7f \u0000 "
    "<|im_start|> <s> </s> [CLS] [SEP] 12345 +-*/ \u2603\ufffd"
)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # for the user: what llama.cpp stopped on
    details: str = ""
    name: str = ""
    checked: float = 0.0
    build: str = ""  # the llama.cpp build that gave it (`llama_build_id`)


def verdict_file() -> Path:
    """Beside Hearth's other caches: HEARTH_HOME moves it, as it moves every user folder
    (app.paths, which engine/ may not import, does the same). HEARTH_MODEL_VERDICTS names
    the file itself (the tests share one, as they share the prepared models)."""
    if os.environ.get("HEARTH_MODEL_VERDICTS"):
        return Path(os.environ["HEARTH_MODEL_VERDICTS"]).expanduser()
    home = os.environ.get("HEARTH_HOME")
    if home:
        return Path(home).expanduser() / "cache" / VERDICTS_FILE
    import platformdirs

    return Path(platformdirs.user_cache_dir("Hearth", appauthor=False)) / VERDICTS_FILE


_keys: dict[tuple[str, int, int], str] = {}
_build: list[str] = []


def llama_build_id() -> str:
    """The llama.cpp libraries this environment loads, by name, size and modification time
    (without loading them). A verdict holds for the build that gave it: a rebuild (a new
    release, new patches, a GPU build) may load a file that crashed the last one; seen with
    the bundled SmolLM2 after the AMX crash on Sapphire Rapids was fixed (patch 0005), when
    the crash the old build recorded kept refusing the sound file."""
    if not _build:
        import importlib.util

        spec = importlib.util.find_spec("llama_cpp")
        parts: list[str] = []
        if spec is not None and spec.origin is not None:
            lib = Path(spec.origin).parent / "lib"
            with contextlib.suppress(OSError):
                for f in sorted(lib.iterdir()):
                    st = f.stat()
                    parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
        _build.append(hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16])
    return _build[0]


def header_key(h: GGUFHeader) -> str:
    """sha256 of everything before the tensor data, and the file's size (remembered per
    file and modification time: model lists ask often)."""
    st = h.path.stat()
    seen = (str(h.path), st.st_size, st.st_mtime_ns)
    if seen not in _keys:
        _keys[seen] = _hash_header(h)
    return _keys[seen]


def _hash_header(h: GGUFHeader) -> str:
    digest = hashlib.sha256()
    with h.path.open("rb") as fh:
        left = h.data_offset
        while left > 0 and (block := fh.read(min(left, 1 << 20))):
            digest.update(block)
            left -= len(block)
    return f"{digest.hexdigest()}:{h.file_size}"


class _Store:
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Verdict | None:
        """The verdict on `key` given by this llama.cpp build (another build's is ignored)."""
        raw = self._read().get(key)
        if not isinstance(raw, dict):
            return None
        try:
            verdict = Verdict(**raw)  # type: ignore[arg-type]
        except TypeError:
            return None
        return verdict if verdict.build == llama_build_id() else None

    def put(self, key: str, verdict: Verdict) -> None:
        with self._lock:
            data = self._read()
            data[key] = {**asdict(verdict), "build": llama_build_id()}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as exc:  # a full or read-only disk: the probe runs again next time
                log.warning("could not record the verdict on %s: %s", verdict.name, exc)


def _error(h: GGUFHeader, verdict: Verdict) -> ModelFileError:
    return ModelFileError(
        f"{h.path.name} is damaged: llama.cpp stops the program when it loads this file "
        f"({verdict.reason}). Hearth tried it in a separate process and did not load it. "
        "Download or convert it again.",
        verdict.details or verdict.reason,
    )


def known_damage(h: GGUFHeader) -> ModelFileError | None:
    """The error a probe recorded for this file, if one did (for model lists)."""
    try:
        verdict = _Store(verdict_file()).get(header_key(h))
    except OSError:
        return None
    return _error(h, verdict) if verdict is not None and not verdict.ok else None


def ensure_loadable(h: GGUFHeader, embedding: bool = False) -> None:
    """Raise ModelFileError when loading `h`'s file would take the process down. Probes the
    file in a child process the first time; afterwards a lookup."""
    if os.environ.get("HEARTH_LOAD_PROBE") == "0":
        return  # inside the probe itself
    store = _Store(verdict_file())
    key = header_key(h)
    verdict = store.get(key)
    if verdict is None:
        verdict = probe(h.path, embedding, timeout_s=PROBE_TIMEOUT_S + h.file_size / 50e6)
        if verdict is None:
            return  # the child could not be started: load as before
        if not verdict.ok and not probe_is_trustworthy(h.path):
            return  # the probe fails for a sound file too: say nothing about this one
        if verdict.checked:  # a verdict on the file, not on the moment
            store.put(key, verdict)
    if not verdict.ok:
        raise _error(h, verdict)


_control: list[bool] = []  # whether the probe loads a sound model here (asked once a process)


def probe_is_trustworthy(suspect: Path) -> bool:
    """Whether the probe's child can load a model known to be sound (the bundled SmolLM2)
    on this machine. If it cannot, its verdicts say something about the machine, not the
    file (seen on a CUDA machine, where the child ended with SIGSEGV for every model), and
    refusing every model would leave Hearth unusable: the load goes on as it did before
    probing, with a warning in the log."""
    if not _control:
        from engine.catalog import smollm2_path

        sound = smollm2_path()
        if sound is None or sound.resolve() == suspect.resolve():
            _control.append(True)  # nothing to compare with: trust the probe
        else:
            verdict = probe(sound, False, timeout_s=PROBE_TIMEOUT_S)
            _control.append(verdict is None or verdict.ok)
            if not _control[0]:
                log.warning(
                    "the load probe fails for the bundled %s too (%s): its verdicts are "
                    "ignored on this machine",
                    sound.name,
                    verdict.reason if verdict else "",
                )
    return _control[0]


def probe(path: Path, embedding: bool, timeout_s: float) -> Verdict | None:
    """Load `path` in a child process: a Verdict, or None when the child could not finish
    (killed from outside, out of time)."""
    env = dict(os.environ, HEARTH_LOAD_PROBE="0", GGML_NO_BACKTRACE="1")
    # The child loads on the CPU (n_gpu_layers 0): a GPU backend need not start there. Under
    # the child's memory limit, starting one may fail in ways that say nothing of the file
    # (the driver maps much memory up front); not verified on a GPU machine.
    env.update(CUDA_VISIBLE_DEVICES="", HIP_VISIBLE_DEVICES="", GGML_VK_VISIBLE_DEVICES="")
    root = str(Path(__file__).resolve().parent.parent)  # so `-m engine.load_probe` imports
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # Memory the child may allocate (the weights are mapped from the file and not counted;
    # a CPU copy of them may be made): a vocabulary that sends a tokenizer into an endless
    # loop then ends in an allocation failure, not in the machine's memory running out.
    memory = 2 * path.stat().st_size + (2 << 30)
    cmd = [sys.executable, "-m", "engine.load_probe", str(path), f"--memory={memory}"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*cmd, "--embedding"] if embedding else cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        # Not kept: a busy machine may have been the cause; the next load probes again.
        return Verdict(False, f"loading it did not finish in {timeout_s:.0f} s", name=path.name)
    except OSError as exc:
        log.warning("could not probe %s: %s", path, exc)
        return None
    log.info("probed %s in %.2f s: exit %d", path.name, time.monotonic() - started, done.returncode)
    stderr = done.stderr.decode("utf-8", errors="replace")
    if _killed(done.returncode):  # from outside (the kernel, out of memory): not kept either
        return Verdict(False, "loading it was stopped, probably for lack of memory", stderr[-4000:])
    if done.returncode == 0 or not _crashed(done.returncode):
        # A clean load, or an error llama.cpp reports itself: the real load says the same.
        return Verdict(True, name=path.name, checked=time.time())
    return Verdict(False, _reason(stderr, done.returncode), stderr[-4000:], path.name, time.time())


def _killed(rc: int) -> bool:
    return sys.platform != "win32" and rc == -signal.SIGKILL


def _crashed(rc: int) -> bool:
    if sys.platform == "win32":
        return (rc & 0xFFFFFFFF) in _WINDOWS_CRASHES
    if rc >= 0:
        return False
    with contextlib.suppress(ValueError):
        return signal.Signals(-rc).name in _CRASH_SIGNALS
    return False


def _reason(stderr: str, rc: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if any("std::bad_alloc" in line for line in lines):
        return "it asks for far more memory than a model of its size needs"
    for marker in ("GGML_ASSERT", "what():", "GGML_ABORT", "error"):
        found = [line for line in lines if marker in line]
        if found:
            text = found[-1]
            return text.split("/src/")[-1][:300]  # the build folder's path says nothing
    with contextlib.suppress(ValueError):
        return f"it ended with {signal.Signals(-rc).name}"
    return f"it ended with exit code {rc}"


# -- The child -------------------------------------------------------------------------------


def _child_main(argv: list[str]) -> int:
    """Load the model as Hearth does (CPU), read PROBE_TEXT, compute and show a few tokens."""
    import ctypes

    from engine import runtime

    path, embedding = argv[0], "--embedding" in argv[1:]
    for arg in argv[1:]:
        if arg.startswith("--memory=") and sys.platform != "win32":
            import resource

            limit = int(arg.split("=", 1)[1])
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    lc = runtime.llama()
    mparams = lc.llama_model_default_params()
    mparams.n_gpu_layers = 0
    model = lc.llama_model_load_from_file(os.fsencode(path), mparams)
    if not model:
        return 2  # llama.cpp refused it with an error: the real load reports it
    cparams = lc.llama_context_default_params()
    cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = 256
    cparams.n_threads = cparams.n_threads_batch = 1
    cparams.embeddings = embedding
    ctx = lc.llama_init_from_model(model, cparams)
    if not ctx:
        return 2
    vocab = lc.llama_model_get_vocab(model)
    raw = PROBE_TEXT.encode("utf-8")
    buf = (lc.llama_token * (len(raw) + 8))()
    n = lc.llama_tokenize(vocab, raw, len(raw), buf, len(raw) + 8, True, True)
    piece = ctypes.create_string_buffer(256)
    specials = [lc.llama_vocab_bos(vocab), lc.llama_vocab_eos(vocab), lc.llama_vocab_eot(vocab)]
    for token in [*buf[: max(n, 0)], *specials]:
        if token >= 0:
            lc.llama_token_to_piece(vocab, token, piece, 256, 0, True)
    tokens = list(buf[: min(max(n, 1), 64)])
    batch = (lc.llama_token * len(tokens))(*tokens)
    if lc.llama_decode(ctx, lc.llama_batch_get_one(batch, len(tokens))) != 0:
        return 2
    if not embedding:
        sampler = lc.llama_sampler_init_greedy()
        token = lc.llama_sampler_sample(sampler, ctx, -1)
        one = (lc.llama_token * 1)(token)
        lc.llama_decode(ctx, lc.llama_batch_get_one(one, 1))
        lc.llama_sampler_free(sampler)
    lc.llama_free(ctx)
    lc.llama_model_free(model)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
