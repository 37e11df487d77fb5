"""Tokenizer → GGUF vocabulary, for the converter.

Two kinds of tokenizer are written:

* WordPiece (BERT): tokenizer model "bert". llama.cpp's WordPiece tokenizer expects the
  "phantom space" form of the vocabulary: a word-initial piece gets a leading U+2581, a
  continuation piece ("##ing") loses its "##", control tokens stay as they are.
* Byte-level BPE (Llama 3, SmolLM, Qwen, Mistral Nemo...): tokenizer model "gpt2" with the
  merges, and `tokenizer.ggml.pre` naming the pre-tokenizer (the regex that splits text before
  BPE). llama.cpp cannot inspect a tokenizer.json, so the pre-tokenizer is recognised the way
  llama.cpp's own converter does it: tokenize a fixed reference text with the model's real
  tokenizer (the `tokenizers` package reads tokenizer.json) and look up the SHA-256 of the ids.

Special token ids, add-BOS/EOS flags, merges and the chat template come from gguf's
`SpecialVocab`, which reads tokenizer.json and tokenizer_config.json.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf.constants import TokenType

from engine.errors import ConversionError

# The reference text llama.cpp tokenizes to identify a pre-tokenizer (it must be exactly this
# string, or the hashes below mean nothing).
PRE_TOKENIZER_PROBE = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis "
    "concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not "
    "sure I'll make it, 'D you like some tea? We'Ve a'lL"
)

# SHA-256 of str(token ids of PRE_TOKENIZER_PROBE) -> llama.cpp pre-tokenizer name, for the
# tokenizers of the architectures Hearth converts (values as published by llama.cpp).
KNOWN_PRE_TOKENIZERS: dict[str, str] = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
    "c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d": "smaug-bpe",
    "9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e": "falcon3",
    "049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754": "deepseek-llm",
    "347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821": "deepseek-coder",
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
    "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",
    "0e9433cbbb161f89e264eb32e8e64bfe69e834973ffca5d41d3948a604a3e2a3": "pixtral",
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
    "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2",
    "b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
    "0fe1cf6eda062318a1af7270f3331a85c539a01778ff948e24388e949c5282f4": "gpt-2",
    "0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f": "bert-bge",
    "8e62295832751ca1e8f92f2226f403dea30dc5165e448b5bfa05af5340c64ec7": "bert-bge-large",
    "c7699093ba4255a91e702aa38a596aa81669f3525dae06c2953267dde580f448": "jina-v1-en",
}

PHANTOM_SPACE = "\u2581"
TOKENIZER_JSON = "tokenizer.json"


@dataclass
class Vocab:
    model: str  # tokenizer.ggml.model: "bert" or "gpt2"
    pre: str  # tokenizer.ggml.pre
    tokens: list[str]
    toktypes: list[int]
    token_type_count: int = 0  # BERT segment embeddings (token_types rows)
    add_space_prefix: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConversionError(f"The checkpoint has no {path.name}.", str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"{path.name} cannot be read: {exc}", str(path)) from exc
    if not isinstance(data, dict):
        raise ConversionError(f"{path.name} is not a JSON object.", str(path))
    return data


def pre_tokenizer_hash(tokenizer_json: Path) -> str:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.no_truncation()
    ids = tok.encode(PRE_TOKENIZER_PROBE).ids
    return hashlib.sha256(str(ids).encode()).hexdigest()


def detect_pre_tokenizer(tokenizer_json: Path) -> str | None:
    """llama.cpp's name for this tokenizer's pre-tokenizer, or None when it is not known."""
    return KNOWN_PRE_TOKENIZERS.get(pre_tokenizer_hash(tokenizer_json))


def looks_special(text: str) -> bool:
    """Added tokens that some checkpoints forget to mark special but that are control tokens."""
    return (
        (text.startswith("<|") and text.endswith("|>"))
        or (text.startswith("<｜") and text.endswith("｜>"))
        or text in ("<pad>", "<mask>")
    )


def _id_table(
    vocab: dict[str, int], added: list[dict[str, Any]], n_vocab: int, src: Path
) -> tuple[list[str], list[int]]:
    """Tokens by id (holes filled with UNUSED placeholders) and their GGUF token types."""
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [int(TokenType.UNUSED)] * n_vocab
    for text, i in vocab.items():
        if not 0 <= i < n_vocab:
            raise ConversionError(
                f"The tokenizer has token id {i}, beyond the model's vocabulary of {n_vocab}.",
                f"{src}: token {text!r} id {i}",
            )
        tokens[i] = text
        types[i] = int(TokenType.NORMAL)
    for tok in added:
        i = int(tok["id"])
        if not 0 <= i < n_vocab:
            raise ConversionError(
                f"The tokenizer has token id {i}, beyond the model's vocabulary of {n_vocab}.",
                f"{src}: added token {tok.get('content')!r} id {i}",
            )
        text = str(tok["content"])
        tokens[i] = text
        if tok.get("special") or looks_special(text):
            types[i] = int(TokenType.CONTROL)
        else:
            types[i] = int(TokenType.USER_DEFINED)
    return tokens, types


def bert_vocab(src_dir: Path, hparams: dict[str, Any]) -> Vocab:
    """WordPiece vocabulary in llama.cpp's phantom-space form."""
    tj_path = src_dir / TOKENIZER_JSON
    if tj_path.is_file():
        tj = load_json(tj_path)
        model = tj.get("model", {})
        if model.get("type") != "WordPiece":
            raise ConversionError(
                f"This BERT checkpoint's tokenizer is {model.get('type')}, not WordPiece; "
                "Hearth converts only WordPiece BERT models.",
                str(tj_path),
            )
        vocab = {str(k): int(v) for k, v in model["vocab"].items()}
        added = list(tj.get("added_tokens", []))
        pre = detect_pre_tokenizer(tj_path) or "default"
    else:
        vocab_txt = src_dir / "vocab.txt"
        if not vocab_txt.is_file():
            raise ConversionError(
                "The checkpoint has neither tokenizer.json nor vocab.txt.", str(vocab_txt)
            )
        lines = vocab_txt.read_text(encoding="utf-8").splitlines()
        vocab = {line: i for i, line in enumerate(lines)}
        special_names = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
        added = [
            {"id": vocab[s], "content": s, "special": True} for s in special_names if s in vocab
        ]
        pre = "default"
    n_vocab = int(hparams.get("vocab_size") or (max(vocab.values()) + 1))
    tokens, types = _id_table(vocab, added, n_vocab, src_dir)
    tokens = [phantom_space(t, ty) for t, ty in zip(tokens, types, strict=True)]
    return Vocab(
        model="bert",
        pre=pre,
        tokens=tokens,
        toktypes=types,
        token_type_count=int(hparams.get("type_vocab_size", 1)),
    )


def phantom_space(token: str, toktype: int) -> str:
    if toktype == TokenType.CONTROL:
        return token
    if token.startswith("##"):
        return token[2:]
    return PHANTOM_SPACE + token


def bpe_vocab(src_dir: Path, hparams: dict[str, Any]) -> Vocab:
    """Byte-level BPE vocabulary from tokenizer.json (merges are added by SpecialVocab)."""
    tj_path = src_dir / TOKENIZER_JSON
    tj = load_json(tj_path)
    model = tj.get("model", {})
    if model.get("type") != "BPE":
        raise ConversionError(
            f"The tokenizer in {tj_path.name} is {model.get('type')}; Hearth converts byte-level "
            "BPE tokenizers for this architecture.",
            str(tj_path),
        )
    if model.get("byte_fallback") or _uses_metaspace(tj):
        raise ConversionError(
            "This checkpoint uses a SentencePiece-style tokenizer (Llama 2 / Mistral 7B v0.1 "
            "style), which Hearth's converter does not support yet. Use a ready-made GGUF file.",
            f"{tj_path}: byte_fallback={model.get('byte_fallback')}",
        )
    vocab = {str(k): int(v) for k, v in model["vocab"].items()}
    added = list(tj.get("added_tokens", []))
    max_id = max([*vocab.values(), *(int(t["id"]) for t in added)])
    n_vocab = int(hparams.get("vocab_size") or (max_id + 1))
    tokens, types = _id_table(vocab, added, n_vocab, src_dir)
    pre = detect_pre_tokenizer(tj_path)
    if pre is None:
        raise ConversionError(
            "Hearth does not recognise this model's tokenizer (its pre-tokenizer is not one "
            "llama.cpp knows), so it cannot convert it faithfully.",
            f"{tj_path}: pre-tokenizer hash {pre_tokenizer_hash(tj_path)}",
        )
    cfg_path = src_dir / "tokenizer_config.json"
    add_space_prefix: bool | None = None
    if cfg_path.is_file():
        value = load_json(cfg_path).get("add_prefix_space")
        if isinstance(value, bool):
            add_space_prefix = value
    return Vocab(
        model="gpt2", pre=pre, tokens=tokens, toktypes=types, add_space_prefix=add_space_prefix
    )


def _uses_metaspace(tj: dict[str, Any]) -> bool:
    text = json.dumps([tj.get("pre_tokenizer"), tj.get("normalizer"), tj.get("decoder")])
    return '"Metaspace"' in text
