"""`hearth models`: list installed models; search, inspect and pull from the hub; convert,
quantize and remove.

`pull`, `convert` and `quantize` print the produced file's path as the last line of stdout
(scripts can take it with `| tail -n1`); progress goes to stderr. Heavy modules (the hub
client, llama.cpp) are imported inside the handlers so `hearth --help` stays fast."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.paths import get_paths
from engine.hub import shard_siblings
from engine.units import format_params, human_size

if TYPE_CHECKING:
    from engine.download import DownloadProgress
    from engine.types import ModelInfo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, find, download, convert and quantize models")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--ctx", type=int, default=0, help="context size for the memory estimate")
    p.set_defaults(handler=run_list)
    msub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")

    s = msub.add_parser("list", help="installed models (the default)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--ctx", type=int, default=0, help="context size for the memory estimate")
    s.set_defaults(handler=run_list)

    s = msub.add_parser("search", help="search the hub for GGUF models")
    s.add_argument("query")
    s.add_argument("--sort", choices=["downloads", "recent"], default="downloads")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=run_search)

    s = msub.add_parser("files", help="a hub repository's GGUF files, grouped by quantization")
    s.add_argument("repo", metavar="REPO", help="owner/name")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=run_files)

    s = msub.add_parser("pull", help="download a GGUF model (resumes an interrupted download)")
    s.add_argument("spec", metavar="REPO[:QUANT]", help="e.g. owner/name:Q4_K_M")
    s.add_argument("--file", default="", help="a file name in the repository")
    s.set_defaults(handler=run_pull)

    s = msub.add_parser("convert", help="convert a Hugging Face checkpoint folder to GGUF")
    s.add_argument("src", metavar="SRC", help="folder with config.json and *.safetensors")
    s.add_argument("--outtype", choices=["f16", "bf16", "f32"], default="f16")
    s.add_argument("--out", default="", help="output file (default: in the models folder)")
    s.set_defaults(handler=run_convert)

    s = msub.add_parser("quantize", help="make a smaller quantized variant of a model")
    s.add_argument("model", metavar="MODEL", help="installed model name or a .gguf path")
    s.add_argument("quant", metavar="QUANT", help="Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K")
    s.add_argument("--out", default="", help="output file (default: <base>.<QUANT>.gguf)")
    s.add_argument(
        "--allow-requantize",
        action="store_true",
        help="quantize an already-quantized model (loses more quality than starting from F16)",
    )
    s.set_defaults(handler=run_quantize)

    s = msub.add_parser("rm", help="delete a model file from the models folder")
    s.add_argument("model", metavar="MODEL")
    s.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    s.set_defaults(handler=run_rm)


# -- helpers --------------------------------------------------------------------------------


def _settings() -> Any:
    from app.settings import Settings

    return Settings.load(get_paths().settings_file)


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _shard_index(name: str) -> tuple[int, int] | None:
    from engine.hub import shard_info

    info = shard_info(name)
    return (info[1], info[2]) if info else None


def installed_models(n_ctx: int = 0) -> list[dict[str, Any]]:
    """Every installed model as a dict, damaged files included (with their error). The
    default models are prepared first on first use, so the list shows them."""
    from app.user_library import first_use
    from engine.catalog import Catalog, header_cached, model_info
    from engine.errors import ModelFileError
    from engine.memory import available_memory, estimate_for, fit

    settings = _settings()
    paths = get_paths()
    first_use(paths.models)
    available = available_memory()
    out: list[dict[str, Any]] = []
    for path, bundled in Catalog(paths.models).paths():
        shard = _shard_index(path.name)
        if shard and shard[0] > 1:
            continue  # listed with its first part
        entry: dict[str, Any] = {"path": str(path), "name": path.name.removesuffix(".gguf")}
        try:
            info = model_info(path, bundled)
            siblings = shard_siblings(path) if shard else [path]
            if shard:
                info.file_size = sum(p.stat().st_size for p in siblings)
                info.parameters = sum(header_cached(p).n_params for p in siblings)
                if len(siblings) != shard[1]:
                    raise ModelFileError(
                        f"only {len(siblings)} of {shard[1]} parts are present", str(path)
                    )
        except (ModelFileError, OSError) as exc:
            entry["error"] = getattr(exc, "user_message", str(exc))
            entry["bundled"] = bundled
            out.append(entry)
            continue
        ctx = n_ctx or settings.n_ctx
        if info.context_length:
            ctx = min(ctx, info.context_length)
        est = estimate_for(info, ctx, settings.n_gpu_layers, settings.n_batch)
        entry.update(
            {
                "name": info.name,
                "architecture": info.architecture,
                "parameters": info.parameters,
                "quantization": info.file_type,
                "file_size": info.file_size,
                "context_length": info.context_length,
                "chat_template": info.has_chat_template,
                "embedding": info.embedding,
                "bundled": info.bundled,
                "shards": shard[1] if shard else 1,
                "memory": {"n_ctx": ctx, **est.as_dict()},
                "fit": fit(est, available),
            }
        )
        out.append(entry)
    return out


# -- handlers -------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    from engine.memory import available_memory

    models = installed_models(getattr(args, "ctx", 0))
    if getattr(args, "json", False):
        print(json.dumps({"models": models, "available_memory": available_memory()}, indent=2))
        return 0
    if not models:
        print(
            "No models installed. Install Hearth's default models (`python3 bootstrap.py run` "
            f"does), download one with `hearth models pull`, or add GGUF files to "
            f"{get_paths().models}."
        )
        return 0
    rows = []
    for m in models:
        if "error" in m:
            rows.append([m["name"], "-", "-", "-", "-", "-", "-", "-", f"DAMAGED: {m['error']}"])
            continue
        kind = "embed" if m["embedding"] else ("yes" if m["chat_template"] else "no")
        rows.append(
            [
                m["name"] + (" *" if m["bundled"] else ""),
                m["architecture"],
                format_params(m["parameters"]),
                m["quantization"],
                human_size(m["file_size"]),
                str(m["context_length"] or "?"),
                kind,
                f"{human_size(m['memory']['total_bytes'])} @{m['memory']['n_ctx']}",
                m["fit"],
            ]
        )
    headers = ["NAME", "ARCH", "PARAMS", "QUANT", "SIZE", "CTX", "CHAT", "MEMORY", "FIT"]
    print(_table(rows, headers))
    print(f"\n* bundled with Hearth. Available memory: {human_size(available_memory())}.")
    return 0


def _hub() -> Any:
    from engine.hub import Hub

    return Hub.from_settings(_settings())


def run_search(args: argparse.Namespace) -> int:
    found = _hub().search(args.query, sort=args.sort, limit=args.limit)
    if args.json:
        print(json.dumps([m.as_dict() for m in found], indent=2))
        return 0
    if not found:
        print(f"No GGUF models match '{args.query}'.")
        return 0
    rows = [
        [
            m.repo_id,
            f"{m.downloads:,}",
            str(m.likes),
            m.last_modified.date().isoformat() if m.last_modified else "-",
        ]
        for m in found
    ]
    print(_table(rows, ["REPO", "DOWNLOADS", "LIKES", "UPDATED"]))
    return 0


def run_files(args: argparse.Namespace) -> int:
    from engine.hub import parse_repo_spec
    from engine.memory import available_memory, fit, rough_estimate

    repo_id, _ = parse_repo_spec(args.repo)
    repo = _hub().repo_files(repo_id)
    available = available_memory()
    n_ctx = _settings().n_ctx
    if args.json:
        out = []
        for v in repo.variants:
            est = rough_estimate(v.size, n_ctx)
            out.append(
                {**v.as_dict(), "memory_estimate": est.total_bytes, "fit": fit(est, available)}
            )
        print(
            json.dumps(
                {"repo_id": repo.repo_id, "revision": repo.revision, "variants": out}, indent=2
            )
        )
        return 0
    if not repo.variants:
        print(f"{repo.repo_id} has no GGUF model files.")
        return 0
    rows = []
    for quant, variants in sorted(repo.by_quant().items(), key=lambda kv: kv[1][0].size):
        for v in variants:
            est = rough_estimate(v.size, n_ctx)
            parts = f"{len(v.files)}/{v.shards} parts" if v.shards > 1 else ""
            if not v.complete:
                parts += " (INCOMPLETE)"
            rows.append(
                [
                    quant,
                    v.first_file.path,
                    human_size(v.size),
                    parts,
                    f"~{human_size(est.total_bytes)}",
                    fit(est, available),
                ]
            )
    print(_table(rows, ["QUANT", "FILE", "SIZE", "SHARDS", "MEMORY", "FIT"]))
    if repo.other_gguf:
        print(
            "\nOther GGUF files (not language models): "
            + ", ".join(f.path for f in repo.other_gguf)
        )
    print(f"\nDownload one with: hearth models pull {repo.repo_id}:QUANT")
    return 0


class _Progress:
    """Progress on stderr: one updating line on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: DownloadProgress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 2.0 and p.done < p.total:
            return
        self.last = now
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        part = f" [{p.file_index}/{p.file_count}]" if p.file_count > 1 else ""
        line = (
            f"{p.stage} {p.filename}{part}: {human_size(p.done)} / {human_size(p.total)} "
            f"({p.fraction * 100:.0f}%) {human_size(p.speed)}/s ETA {eta}"
        )
        if self.tty:
            print("\r" + line.ljust(100), end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def run_pull(args: argparse.Namespace) -> int:
    from engine.download import Downloader
    from engine.hub import parse_repo_spec, pick_variant

    repo_id, quant = parse_repo_spec(args.spec)
    settings = _settings()
    hub = _hub()
    repo = hub.repo_files(repo_id)
    variant = pick_variant(repo, quant=quant, filename=args.file)
    print(
        f"pulling {repo_id}: {variant.first_file.path} "
        f"({variant.quant}, {human_size(variant.size)})",
        file=sys.stderr,
    )
    paths = get_paths().ensure()
    downloader = Downloader(paths.models, settings.hub_endpoint, settings.hub_token)
    progress = _Progress()
    cancel = threading.Event()
    try:
        path = downloader.download_variant(repo, variant, progress=progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        progress.done()
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    progress.done()
    if path is None:
        return 130
    print(path)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from engine.convert import convert_checkpoint

    src = Path(args.src).expanduser()
    out = Path(args.out).expanduser() if args.out else None
    if out is None:
        paths = get_paths().ensure()
        out = paths.models / f"{src.resolve().name}.{args.outtype.upper()}.gguf"
    started = time.monotonic()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 and done < total:
            return
        last[0] = now
        pct = done / total * 100 if total else 0.0
        print(
            f"converting {src.name}: {pct:.0f}% ({human_size(done)} of {human_size(total)}, "
            f"{now - started:.0f}s)",
            file=sys.stderr,
            flush=True,
        )

    cancel = threading.Event()
    try:
        result = convert_checkpoint(
            src, out, outtype=args.outtype, progress=progress, cancel=cancel
        )
    except KeyboardInterrupt:
        cancel.set()
        return 130
    print(result)
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from app.user_library import first_use
    from engine.catalog import Catalog
    from engine.quantize import QuantizeProgress, quantize

    paths = get_paths().ensure()
    first_use(paths.models)
    info: ModelInfo = Catalog(paths.models).resolve(args.model)
    src = Path(info.path)
    out = Path(args.out).expanduser() if args.out else None
    last = [0.0]

    def progress(p: QuantizeProgress) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 and p.stage == "quantizing" and p.done < p.total:
            return
        last[0] = now
        pct = f" {p.fraction * 100:.0f}%" if p.total else ""
        print(
            f"{p.stage}{pct} ({p.elapsed_s:.0f}s) {p.message}".rstrip(), file=sys.stderr, flush=True
        )

    cancel = threading.Event()
    try:
        result = quantize(
            src,
            args.quant,
            out,
            progress=progress,
            cancel=cancel,
            allow_requantize=args.allow_requantize,
            models_dir=paths.models,
        )
    except KeyboardInterrupt:
        cancel.set()
        return 130
    print(result)
    return 0


def run_rm(args: argparse.Namespace) -> int:
    from engine.catalog import Catalog
    from engine.errors import InvalidRequestError

    paths = get_paths()
    models = paths.models.resolve()
    direct = [models / args.model, models / f"{args.model}.gguf"]
    found = [p for p in direct if p.is_file() and p.suffix == ".gguf"]
    if found:  # by file name: works for damaged files too, which the catalog cannot read
        path, name, bundled = found[0].resolve(), found[0].name.removesuffix(".gguf"), False
    else:
        info = Catalog(paths.models).resolve(args.model)
        path, name, bundled = Path(info.path).resolve(), info.name, info.bundled
    if not path.is_relative_to(models):
        raise InvalidRequestError(
            f"{name} is not in the models folder ({models}); Hearth only deletes files there"
            + (" (the bundled SmolLM2 model is part of the installation)." if bundled else ".")
        )
    files = shard_siblings(path) if _shard_index(path.name) else [path]
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidRequestError(f"Add --yes to delete {name} without a prompt.")
        total = sum(f.stat().st_size for f in files)
        answer = input(f"Delete {name} ({human_size(total)})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept", file=sys.stderr)
            return 1
    for f in files:
        f.unlink(missing_ok=True)
    print(f"deleted {name}", file=sys.stderr)
    return 0
