"""Make a smaller quantized variant of a GGUF model with llama.cpp's own quantizer.

The work runs in a child process (`python -m engine.quantize SRC DST QUANT`) that calls
`llama_cpp.llama_model_quantize` with `llama_model_quantize_default_params()`: llama.cpp aborts
the process on some bad inputs, and a cancel must stop it at once, so neither may happen in the
app's own process. The child writes to a hidden temporary file next to the target; the parent
checks the result's header and renames it into place only when the child succeeded. Cancel
kills the child and removes the temporary file.

Progress comes from llama.cpp's own log: one line per tensor, "[  12/ 272] blk.0.attn_k ...",
which the parent reads from the child's stderr.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConversionError, InvalidRequestError, ModelFileError
from engine.job_files import JobFile

# Quantization levels offered to users, with their approximate bits per weight (llama.cpp's
# quantize tool prints the same figures) for the disk-space check.
QUANT_BITS: dict[str, float] = {
    "Q8_0": 8.5,
    "Q6_K": 6.6,
    "Q5_K_M": 5.7,
    "Q5_K_S": 5.5,
    "Q5_0": 5.5,
    "Q4_K_M": 4.9,
    "Q4_K_S": 4.6,
    "Q4_0": 4.5,
    "Q4_1": 5.0,
    "Q3_K_L": 4.3,
    "Q3_K_M": 3.9,
    "Q3_K_S": 3.5,
    "Q2_K": 3.4,
    "F16": 16.0,
    "BF16": 16.0,
    "F32": 32.0,
}
RECOMMENDED = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
UNQUANTIZED = {"F32", "ALL_F32", "F16", "BF16"}
_TENSOR_LINE = re.compile(r"\[\s*(\d+)\s*/\s*(\d+)\s*\]")
_QUANT_SUFFIX = re.compile(
    r"[.\-_](?:I?Q\d_[A-Z0-9]+(?:_[A-Z0-9]+)?|BF16|F16|F32)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QuantizeProgress:
    stage: str  # "starting", "quantizing", "verifying", "done"
    done: int  # tensors written
    total: int  # tensors in the model (0 until llama.cpp reports it)
    elapsed_s: float
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


ProgressFn = Callable[[QuantizeProgress], None]


def normalize_quant(quant: str) -> str:
    q = quant.strip().upper()
    if q not in QUANT_BITS:
        raise InvalidRequestError(
            f"Unknown quantization '{quant}'. Choose one of: {', '.join(RECOMMENDED)} "
            "(or F16, BF16, F32, Q5_0, Q4_1, Q4_K_S, Q5_K_S, Q3_K_S, Q3_K_L).",
        )
    return q


def base_name(stem: str) -> str:
    """A model file's name without its quantization: 'SmolLM2-135M.Q4_1' -> 'SmolLM2-135M'."""
    return _QUANT_SUFFIX.sub("", stem) or stem


def default_output(src: Path, quant: str, models_dir: Path | None = None) -> Path:
    """`<base>.<QUANT>.gguf` next to the source, or in the models folder when the source lives
    elsewhere (the bundled model inside the installation, a file on another drive)."""
    name = f"{base_name(src.name.removesuffix('.gguf'))}.{quant}.gguf"
    folder = src.parent
    if models_dir is not None:
        try:
            src.resolve().relative_to(models_dir.resolve())
        except ValueError:
            folder = models_dir
    return folder / name


def estimated_size(n_params: int, quant: str) -> int:
    return int(n_params * QUANT_BITS[quant] / 8 * 1.1) + (1 << 20)


def quantize(
    src: Path,
    quant: str,
    out: Path | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    *,
    allow_requantize: bool = False,
    models_dir: Path | None = None,
    nthread: int = 0,
) -> Path | None:
    """Quantize `src` to `quant`. Returns the new file, or None when cancelled (no file left).

    Quantizing a file that is already quantized needs allow_requantize: the result is worse
    than quantizing the original F16/BF16 weights to the same level."""
    from engine.gguf_file import read_header

    quant = normalize_quant(quant)
    src = Path(src)
    header = read_header(src)  # ModelFileError with the reason when unusable
    current = header.file_type_name.upper()
    if current == quant:
        raise InvalidRequestError(f"{src.name} is already {quant}.")
    if current not in UNQUANTIZED and not allow_requantize:
        raise InvalidRequestError(
            f"{src.name} is already quantized ({current}). Quantizing it again loses more quality "
            f"than quantizing the original F16 model to {quant}; allow re-quantizing to do it "
            "anyway (hearth models quantize ... --allow-requantize).",
        )
    target = Path(out) if out else default_output(src, quant, models_dir)
    if target.exists():
        raise InvalidRequestError(f"{target} already exists; remove it first or choose --out.")
    target.parent.mkdir(parents=True, exist_ok=True)
    need = estimated_size(header.n_params, quant)
    free = shutil.disk_usage(target.parent).free
    if need > free:
        raise InvalidRequestError(
            f"Not enough free disk space to quantize: about {need / 1e6:.0f} MB needed, "
            f"{free / 1e6:.0f} MB free in {target.parent}.",
        )
    tmp = target.parent / f".{target.name}.{os.getpid()}.quantizing"
    cancel = cancel or threading.Event()
    # The job owns the file through a lock its child shares: a sweep at start removes the
    # file only once both are gone (engine.job_files).
    with JobFile(tmp) as job:
        ok = _run_child(src, job, quant, allow_requantize, nthread, progress, cancel)
        if not ok:
            return None
        started = time.monotonic()
        if progress:
            progress(QuantizeProgress("verifying", 0, 0, 0.0))
        try:
            read_header(tmp)
        except ModelFileError as exc:
            raise ConversionError(
                f"Quantizing {src.name} produced a damaged file; nothing was saved.",
                exc.details,
            ) from exc
        os.replace(tmp, target)
        if progress:
            progress(QuantizeProgress("done", 1, 1, time.monotonic() - started, str(target)))
        return target


def _child_command(
    src: Path, dst: Path, quant: str, allow_requantize: bool, nthread: int
) -> list[str]:
    cmd = [sys.executable, "-m", "engine.quantize", str(src), str(dst), quant]
    if allow_requantize:
        cmd.append("--allow-requantize")
    if nthread:
        cmd += ["--threads", str(nthread)]
    return cmd


def _start_child(cmd: list[str], job: JobFile) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # so `-m engine.quantize` imports
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # The child's stdin is a pipe that only this process writes to: when this process ends,
    # however it ends, the child sees it close and exits (_exit_with_parent). It shares the
    # lock on its output file (engine.job_files) while it runs.
    return subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        pass_fds=() if sys.platform == "win32" else (job.inheritable_fd(),),
    )


def _run_child(
    src: Path,
    job: JobFile,
    quant: str,
    allow_requantize: bool,
    nthread: int,
    progress: ProgressFn | None,
    cancel: threading.Event,
) -> bool:
    """Run the quantizer child; True on success, False if cancelled; raises on failure."""
    started = time.monotonic()
    if progress:
        progress(QuantizeProgress("starting", 0, 0, 0.0, f"{src.name} -> {quant}"))
    proc = _start_child(_child_command(src, job.path, quant, allow_requantize, nthread), job)
    lines: queue.Queue[str | None] = queue.Queue()
    tail: deque[str] = deque(maxlen=40)

    def pump() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.put(raw.decode("utf-8", errors="replace"))
        lines.put(None)

    reader = threading.Thread(target=pump, name="quantize-log", daemon=True)
    reader.start()
    done = total = 0
    eof = False
    try:
        while True:
            if cancel.is_set():
                _stop(proc)
                return False
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                line = ""
                if eof or proc.poll() is not None and not reader.is_alive():
                    break
                continue
            if line is None:
                eof = True
                continue
            tail.append(line.rstrip())
            m = _TENSOR_LINE.search(line)
            if m:
                done, total = int(m.group(1)), int(m.group(2))
                if progress:
                    progress(
                        QuantizeProgress("quantizing", done, total, time.monotonic() - started)
                    )
        rc = proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
    if cancel.is_set():
        return False
    if rc != 0:
        errors = [
            t
            for t in tail
            if "error" in t.lower() or "failed" in t.lower() or "exception" in t.lower()
        ]
        reason = errors[-1] if errors else (tail[-1] if tail else f"exit code {rc}")
        how = f"it crashed (signal {-rc})" if rc < 0 else "llama.cpp reported an error"
        raise ConversionError(
            f"Quantizing {src.name} to {quant} failed: {how}: {reason.strip()}. Nothing was saved.",
            "\n".join(tail),
        )
    if progress:
        progress(QuantizeProgress("quantizing", total, total, time.monotonic() - started))
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- The child -------------------------------------------------------------------------------


def _exit_with_parent() -> None:
    """Leave as soon as the parent's end of stdin closes: a killed `hearth models quantize`
    (or window) must not leave a quantizer running on its own."""

    def watch() -> None:
        # os.read, not sys.stdin: a daemon thread inside a buffered read would make
        # interpreter shutdown abort ("could not acquire lock for <stdin>").
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(argv: list[str]) -> int:
    import argparse
    import ctypes

    import llama_cpp

    p = argparse.ArgumentParser(prog="python -m engine.quantize")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("quant")
    p.add_argument("--allow-requantize", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    _exit_with_parent()
    quant = normalize_quant(args.quant)
    ftype_name = "LLAMA_FTYPE_ALL_F32" if quant == "F32" else f"LLAMA_FTYPE_MOSTLY_{quant}"
    ftype = getattr(llama_cpp, ftype_name, None)
    if ftype is None:
        sys.stderr.write(f"error: this llama.cpp build has no {ftype_name}\n")
        return 2

    @llama_cpp.llama_log_callback
    def to_stderr(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        os.write(2, text)  # llama.cpp's own log, unbuffered, for the parent to parse

    llama_cpp.llama_log_set(to_stderr, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = bool(args.allow_requantize)
    params.nthread = args.threads
    rc = llama_cpp.llama_model_quantize(
        os.fsencode(args.src), os.fsencode(args.dst), ctypes.byref(params)
    )
    if rc != 0:
        sys.stderr.write(f"error: llama_model_quantize returned {rc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
