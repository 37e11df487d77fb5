"""Hearth's own safetensors → GGUF converter (no PyTorch).

Supported: BERT embedding models (all-MiniLM, bge), the Llama family (Llama, Mistral, SmolLM)
and Qwen2/Qwen3. The file is planned first (metadata, tensor names, types and sizes), then the
tensors are converted and written one at a time, so memory stays near one tensor's size.
Output goes to a hidden temporary file next to the target and is renamed into place only when
complete: a failure or a cancel leaves nothing behind.

llama.cpp's conventions that matter here:
* Llama-architecture Q/K projection rows are permuted so that each head's rotary pairs are
  interleaved (HF stores them as two halves). Qwen2/Qwen3 are not permuted.
* 1-D tensors, norms, position and token-type embeddings are always F32.
* BERT is an encoder: causal attention off, a pooling type, token-type embeddings count.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.convert_safetensors import Checkpoint
from engine.convert_vocab import Vocab, bert_vocab, bpe_vocab, load_json
from engine.errors import ConversionError
from engine.job_files import JobFile

log = logging.getLogger(__name__)

SUPPORTED_ARCHITECTURES: dict[str, str] = {
    "BertModel": "bert",
    "BertForMaskedLM": "bert",
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
}
OUTTYPES = ("f16", "bf16", "f32")
# Which type the default embedding model gets is measured per machine: rag.embedding_model.

ProgressFn = Callable[[int, int], None]


class ConversionCancelled(Exception):  # noqa: N818 - a cancel is not an error
    """Raised by convert_checkpoint when `cancel` was set; nothing was written."""


# -- Planning ------------------------------------------------------------------------------


@dataclass
class TensorPlan:
    src: str | None  # checkpoint tensor name (None: generated)
    dst: str  # GGUF tensor name
    shape: tuple[int, ...]  # numpy order (outermost first), as in the checkpoint
    qtype: Any  # gguf.GGMLQuantizationType
    transform: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]] | None = None
    generate: Callable[[], npt.NDArray[np.float32]] | None = None

    @property
    def n_bytes(self) -> int:
        from gguf.constants import GGML_QUANT_SIZES

        block, size = GGML_QUANT_SIZES[self.qtype]
        return math.prod(self.shape) // block * size


def _file_type(outtype: str) -> tuple[Any, Any]:
    from gguf.constants import GGMLQuantizationType, LlamaFileType

    return {
        "f32": (LlamaFileType.ALL_F32, GGMLQuantizationType.F32),
        "f16": (LlamaFileType.MOSTLY_F16, GGMLQuantizationType.F16),
        "bf16": (LlamaFileType.MOSTLY_BF16, GGMLQuantizationType.BF16),
    }[outtype]


def _hf_architecture(config: dict[str, Any], config_path: Path) -> tuple[str, str]:
    archs = config.get("architectures") or []
    supported = ", ".join(sorted(SUPPORTED_ARCHITECTURES))
    for name in archs:
        if name in SUPPORTED_ARCHITECTURES:
            return name, SUPPORTED_ARCHITECTURES[name]
    found = ", ".join(str(a) for a in archs) or f"none (model_type {config.get('model_type')!r})"
    raise ConversionError(
        f"Hearth cannot convert this model: its architecture is {found}. "
        f"Supported architectures: {supported}.",
        f"{config_path}: architectures={archs}",
    )


def _permute_rows(n_head: int) -> Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]:
    """HF's rotary layout (each head: first half, second half) → llama.cpp's interleaved pairs."""

    def permute(w: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        rows = w.shape[0]
        if rows % (2 * n_head):
            raise ConversionError(
                "The attention weights do not match the number of heads in config.json.",
                f"rows={rows} n_head={n_head}",
            )
        out = w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2)
        return np.ascontiguousarray(out.reshape(w.shape))

    return permute


def _llama3_rope_factors(hp: dict[str, Any], rope: dict[str, Any]) -> npt.NDArray[np.float32]:
    """Per-frequency divisors of Llama 3.1's long-context RoPE (written as rope_freqs)."""
    base = float(hp.get("rope_theta", 10000.0))
    dim = int(hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"])
    factor = float(rope.get("factor", 8.0))
    low = float(rope.get("low_freq_factor", 1.0))
    high = float(rope.get("high_freq_factor", 4.0))
    old_ctx = float(rope.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    wavelen = 2 * math.pi / freqs
    smooth = (old_ctx / wavelen - low) / (high - low)
    mid = 1.0 / ((1 - smooth) / factor + smooth)
    out = np.where(wavelen < old_ctx / high, 1.0, np.where(wavelen > old_ctx / low, factor, mid))
    return out.astype(np.float32)


_SKIP_SUFFIXES = (".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias")
_BERT_SKIP = re.compile(r"^(embeddings\.position_ids|pooler\..*|cls\..*)$")


def _tensor_plans(arch: str, hp: dict[str, Any], ckpt: Checkpoint, qtype: Any) -> list[TensorPlan]:
    import gguf
    from gguf.constants import MODEL_TENSOR, TENSOR_NAMES, GGMLQuantizationType

    model_arch = {
        "bert": gguf.MODEL_ARCH.BERT,
        "llama": gguf.MODEL_ARCH.LLAMA,
        "qwen2": gguf.MODEL_ARCH.QWEN2,
        "qwen3": gguf.MODEL_ARCH.QWEN3,
    }[arch]
    n_layer = int(hp["num_hidden_layers"])
    name_map = gguf.get_tensor_name_map(model_arch, n_layer)
    always_f32 = {
        TENSOR_NAMES[MODEL_TENSOR.POS_EMBD] + ".weight",
        TENSOR_NAMES[MODEL_TENSOR.TOKEN_TYPES] + ".weight",
    }
    n_head = int(hp["num_attention_heads"])
    n_head_kv = int(hp.get("num_key_value_heads") or n_head)

    plans: list[TensorPlan] = []
    for src in ckpt.names():
        name = src
        if name.endswith(_SKIP_SUFFIXES):
            continue
        if arch == "bert":
            name = name.removeprefix("bert.")
            if _BERT_SKIP.match(name):
                continue
        dst = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if dst is None:
            raise ConversionError(
                f"The checkpoint has a tensor Hearth does not know how to convert ({src}).",
                f"{arch}: unmapped tensor {src}",
            )
        entry = ckpt.entries[src]
        shape = entry.shape
        tq = qtype
        if len(shape) <= 1 or dst.endswith("_norm.weight") or dst in always_f32:
            tq = GGMLQuantizationType.F32
        transform = None
        if arch == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
            transform = _permute_rows(n_head)
        elif arch == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
            transform = _permute_rows(n_head_kv)
        plans.append(TensorPlan(src, dst, shape, tq, transform))

    rope = hp.get("rope_scaling") or hp.get("rope_parameters") or {}
    if arch == "llama" and str(rope.get("rope_type", rope.get("type", ""))).lower() == "llama3":
        factors = _llama3_rope_factors(hp, rope)
        plans.insert(
            0,
            TensorPlan(
                None,
                TENSOR_NAMES[MODEL_TENSOR.ROPE_FREQS] + ".weight",
                factors.shape,
                GGMLQuantizationType.F32,
                generate=lambda: factors,
            ),
        )
    return plans


# -- Metadata ------------------------------------------------------------------------------


def _readme_license(src_dir: Path) -> str:
    readme = src_dir / "README.md"
    if not readme.is_file():
        return ""
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")[:8000]
    except OSError:
        return ""
    if not text.startswith("---"):
        return ""
    front = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    m = re.search(r"^license:\s*([^\s#]+)\s*$", front, re.MULTILINE)
    return m.group(1).strip("'\"") if m else ""


def _model_name(src_dir: Path, config: dict[str, Any]) -> str:
    """The model card's title when it is a plain name, else the config's or folder's name."""
    readme = src_dir / "README.md"
    if readme.is_file():
        m = re.search(r"^# ([\w.\-]+)\s*$", readme.read_text("utf-8", "replace")[:20000], re.M)
        if m:
            return m.group(1)
    for candidate in (config.get("_name_or_path"), src_dir.name):
        if isinstance(candidate, str) and candidate.strip() and not candidate.startswith("/"):
            return candidate.strip().split("/")[-1]
    return src_dir.name


def _pooling_type(src_dir: Path) -> Any:
    """Pooling of a sentence-transformers model, from modules.json / 1_Pooling/config.json."""
    from gguf.constants import PoolingType

    pool_dir: Path | None = None
    modules = src_dir / "modules.json"
    if modules.is_file():
        try:
            import json

            for mod in json.loads(modules.read_text(encoding="utf-8")):
                if str(mod.get("type", "")).endswith("Pooling"):
                    pool_dir = src_dir / str(mod.get("path", ""))
                    break
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("modules.json unreadable: %s", exc)
    if pool_dir is None and (src_dir / "1_Pooling").is_dir():
        pool_dir = src_dir / "1_Pooling"
    if pool_dir is None or not (pool_dir / "config.json").is_file():
        return None
    cfg = load_json(pool_dir / "config.json")
    if cfg.get("pooling_mode_mean_tokens") or cfg.get("pooling_mode") == "mean":
        return PoolingType.MEAN
    if cfg.get("pooling_mode_cls_token") or cfg.get("pooling_mode") == "cls":
        return PoolingType.CLS
    if cfg.get("pooling_mode_lasttoken") or cfg.get("pooling_mode") == "lasttoken":
        return PoolingType.LAST
    raise ConversionError(
        "This embedding model uses a pooling mode llama.cpp does not support "
        "(only mean, CLS and last-token pooling are).",
        f"{pool_dir / 'config.json'}: {cfg}",
    )


def _write_metadata(
    w: Any, arch: str, hp: dict[str, Any], src_dir: Path, config: dict[str, Any], ftype: Any
) -> None:
    w.add_type("model")
    w.add_name(_model_name(src_dir, config))
    license_ = _readme_license(src_dir)
    if license_:
        w.add_license(license_)
    w.add_file_type(int(ftype))
    w.add_block_count(int(hp["num_hidden_layers"]))
    w.add_context_length(int(hp.get("max_position_embeddings") or 2048))
    w.add_embedding_length(int(hp["hidden_size"]))
    w.add_feed_forward_length(int(hp["intermediate_size"]))
    n_head = int(hp["num_attention_heads"])
    w.add_head_count(n_head)
    if arch == "bert":
        w.add_layer_norm_eps(float(hp.get("layer_norm_eps", 1e-12)))
        w.add_causal_attention(False)
        pooling = _pooling_type(src_dir)
        if pooling is not None:
            w.add_pooling_type(pooling)
        return
    w.add_head_count_kv(int(hp.get("num_key_value_heads") or n_head))
    w.add_layer_norm_rms_eps(float(hp.get("rms_norm_eps", 1e-6)))
    w.add_rope_freq_base(float(hp.get("rope_theta", 10000.0)))
    head_dim = hp.get("head_dim")
    if head_dim:
        w.add_key_length(int(head_dim))
        w.add_value_length(int(head_dim))
    if arch == "llama":
        w.add_vocab_size(int(hp["vocab_size"]))
        w.add_rope_dimension_count(int(head_dim or int(hp["hidden_size"]) // n_head))
    rope = hp.get("rope_scaling") or hp.get("rope_parameters") or {}
    rope_type = str(rope.get("rope_type", rope.get("type", "")) or "").lower()
    factor = rope.get("factor")
    if rope_type == "linear" and factor:
        from gguf.constants import RopeScalingType

        w.add_rope_scaling_type(RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(factor))
    elif rope_type == "yarn" and factor:
        from gguf.constants import RopeScalingType

        w.add_rope_scaling_type(RopeScalingType.YARN)
        w.add_rope_scaling_factor(float(factor))
        if rope.get("original_max_position_embeddings"):
            w.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))
    elif rope_type not in ("", "default", "llama3"):
        raise ConversionError(
            f"This model uses RoPE scaling '{rope_type}', which Hearth's converter does not "
            "support.",
            f"rope_scaling={rope}",
        )


def _write_vocab(w: Any, vocab: Vocab, src_dir: Path) -> None:
    from gguf.vocab import SpecialVocab

    w.add_tokenizer_model(vocab.model)
    w.add_tokenizer_pre(vocab.pre)
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.toktypes)
    if vocab.model == "bert":
        w.add_token_type_count(vocab.token_type_count)
    if vocab.add_space_prefix is not None:
        w.add_add_space_prefix(vocab.add_space_prefix)
    special = SpecialVocab(
        src_dir,
        load_merges=vocab.model == "gpt2",
        special_token_types=("bos", "eos", "unk", "sep", "pad", "mask"),  # GGUF has no cls key
        n_vocab=len(vocab.tokens),
    )
    special.add_to_gguf(w, quiet=True)


# -- Conversion ----------------------------------------------------------------------------


def _hparams(src_dir: Path) -> tuple[dict[str, Any], str, dict[str, Any]]:
    config = load_json(src_dir / "config.json")
    _, arch = _hf_architecture(config, src_dir / "config.json")
    hp = dict(config)
    if isinstance(config.get("text_config"), dict):
        hp.update(config["text_config"])
    for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"):
        if key not in hp:
            raise ConversionError(
                f"config.json lacks '{key}', which the converter needs.",
                f"{src_dir / 'config.json'}: missing {key}",
            )
    return hp, arch, config


def default_output_path(src_dir: Path, outtype: str) -> Path:
    return src_dir.parent / f"{src_dir.name}.{outtype.upper()}.gguf"


def _convert_tensor(ckpt: Checkpoint, plan: TensorPlan) -> npt.NDArray[Any]:
    from gguf import quants

    if plan.generate is not None:
        data = plan.generate()
    else:
        assert plan.src is not None
        data = ckpt.load(plan.src)
        if data.dtype not in (np.float32, np.float16):
            data = data.astype(np.float32)
        if plan.transform is not None:
            data = plan.transform(data.astype(np.float32, copy=False))
    if tuple(data.shape) != plan.shape:
        raise ConversionError(
            f"Tensor {plan.src} has an unexpected shape.", f"{data.shape} != {plan.shape}"
        )
    out: npt.NDArray[Any] = quants.quantize(data.astype(np.float32, copy=False), plan.qtype)
    return out


def convert_checkpoint(
    src_dir: Path,
    out_path: Path | None = None,
    outtype: str = "f16",
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Convert a Hugging Face safetensors checkpoint folder to one GGUF file.

    `progress(done, total)` is called after each tensor with output bytes written and the total.
    Raises ConversionError (unsupported architecture, missing or damaged files) or
    ConversionCancelled; either way no output file is left behind."""
    src_dir = Path(src_dir)
    if outtype not in OUTTYPES:
        raise ConversionError(
            f"Unknown output type '{outtype}'; choose one of {', '.join(OUTTYPES)}.", outtype
        )
    if not src_dir.is_dir():
        raise ConversionError(f"The checkpoint folder {src_dir} does not exist.", str(src_dir))
    hp, arch, config = _hparams(src_dir)
    out = Path(out_path) if out_path is not None else default_output_path(src_dir, outtype)
    ftype, qtype = _file_type(outtype)

    try:
        vocab = bert_vocab(src_dir, hp) if arch == "bert" else bpe_vocab(src_dir, hp)
        ckpt = Checkpoint(src_dir)
        plans = _tensor_plans(arch, hp, ckpt, qtype)
    except (KeyError, ValueError, TypeError) as exc:
        raise ConversionError(
            f"The checkpoint in {src_dir.name} is not in the expected form: {exc}",
            f"{src_dir}: {exc!r}",
        ) from exc
    _check_vocab_rows(plans, vocab)
    total = sum(p.n_bytes for p in plans)
    out.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out.parent).free
    if free < total + (64 << 20):
        raise ConversionError(
            f"Not enough disk space for the converted model: it needs {total / 1e9:.2f} GB, "
            f"{free / 1e9:.2f} GB are free in {out.parent}.",
            f"{out.parent}: free={free} needed={total}",
        )
    # Owned by this job until renamed: a sweep at start removes it if the job was killed.
    tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
    try:
        with JobFile(tmp):
            _write_file(
                tmp, arch, hp, config, src_dir, ftype, vocab, ckpt, plans, total, progress, cancel
            )
            os.replace(tmp, out)
    finally:
        ckpt.close()
    return out


def _write_file(
    tmp: Path,
    arch: str,
    hp: dict[str, Any],
    config: dict[str, Any],
    src_dir: Path,
    ftype: Any,
    vocab: Vocab,
    ckpt: Checkpoint,
    plans: list[TensorPlan],
    total: int,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> None:
    import gguf

    w = gguf.GGUFWriter(tmp, arch)
    try:
        _write_metadata(w, arch, hp, src_dir, config, ftype)
        _write_vocab(w, vocab, src_dir)
        for p in plans:
            w.add_tensor_info(p.dst, p.shape, np.dtype(np.float32), p.n_bytes, raw_dtype=p.qtype)
        w.write_header_to_file(tmp)
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        done = 0
        for data in _converted(ckpt, plans, cancel):
            w.write_tensor_data(data)
            done += data.nbytes
            if progress is not None:
                progress(done, total)
        w.close()
    except (KeyError, ValueError, TypeError) as exc:
        raise ConversionError(
            f"Converting {src_dir.name} failed: {exc}", f"{src_dir}: {exc!r}"
        ) from exc
    except OSError as exc:
        raise ConversionError(
            f"Writing the converted model failed: {exc.strerror or exc}", f"{tmp}: {exc!r}"
        ) from exc
    finally:
        w.close()


def _check_vocab_rows(plans: list[TensorPlan], vocab: Vocab) -> None:
    for p in plans:
        if p.dst == "token_embd.weight" and p.shape[0] != len(vocab.tokens):
            raise ConversionError(
                f"The tokenizer has {len(vocab.tokens)} tokens but the model's embedding table "
                f"has {p.shape[0]} rows; the checkpoint's files do not belong together.",
                f"token_embd rows {p.shape[0]} != n_vocab {len(vocab.tokens)}",
            )


def _converted(
    ckpt: Checkpoint, plans: list[TensorPlan], cancel: threading.Event | None
) -> Iterator[npt.NDArray[Any]]:
    for p in plans:
        if cancel is not None and cancel.is_set():
            raise ConversionCancelled("conversion cancelled")
        yield _convert_tensor(ckpt, p)
