"""engine.model_inventory without a window: installed files grouped by model, what may be
deleted, the quantization levels Settings offers, the records of origins, unfinished
downloads and speeds. The files are real GGUF files: the bundled models, and tiny ones
written here with the `gguf` package (a few thousand parameters, real headers and tensors)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType
from gguf.quants import quantize
from hubserver import BASE, smollm2_f16

from app.settings import Settings
from engine.errors import InvalidRequestError
from engine.hub import HubFile, HubVariant, RepoFiles
from engine.model_inventory import (
    ModelGroup,
    ModelRecords,
    PendingDownload,
    checkpoint_name,
    delete_refusal,
    delete_variant,
    find_group,
    group_key,
    installed_groups,
    memory_fit,
    partial_bytes,
    quant_choices,
)

FILE_TYPES = {"F16": LlamaFileType.MOSTLY_F16, "Q8_0": LlamaFileType.MOSTLY_Q8_0}


def write_gguf(path: Path, quant: str = "F16", arch: str = "llama", rows: int = 96) -> Path:
    """A tiny model of `arch` whose weights are stored as `quant` (F16 or Q8_0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(path), arch)
    writer.add_context_length(2048)
    writer.add_block_count(1)  # as many as it has layers: engine.gguf_check refuses others
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_file_type(FILE_TYPES[quant])
    weights = np.random.default_rng(0).standard_normal((rows, 64)).astype(np.float32)
    for name in ("token_embd.weight", "blk.0.ffn_up.weight"):
        if quant == "Q8_0":
            packed = quantize(weights, GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, packed, raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, weights.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def group(models: Path, key: str, include_embedding: bool = False) -> ModelGroup:
    return next(g for g in installed_groups(models, include_embedding) if g.key == key)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models folder with two variants of one tiny model and one of another."""
    folder = tmp_path / "models"
    write_gguf(folder / "Tiny-1M.F16.gguf", "F16")
    write_gguf(folder / "Tiny-1M-Q8_0.gguf", "Q8_0")
    write_gguf(folder / "Other.Q8_0.gguf", "Q8_0")
    return folder


# -- grouping --------------------------------------------------------------------------------


def test_file_names_of_one_model_share_a_key() -> None:
    assert group_key("SmolLM2-135M-Instruct.Q4_1.gguf") == "smollm2-135m-instruct"
    assert group_key("SmolLM2-135M-Instruct-Q8_0.gguf") == "smollm2-135m-instruct"
    assert group_key("dir/Qwen2.5-7B-Instruct-Q4_K_M-00002-of-00003.gguf") == (
        "qwen2.5-7b-instruct"
    )


def test_variants_of_a_model_are_grouped_largest_first(models: Path) -> None:
    groups = installed_groups(models)
    keys = [g.key for g in groups]
    assert keys == sorted(keys) and {"tiny-1m", "other", BASE.lower()} <= set(keys)
    tiny = group(models, "tiny-1m")
    assert [v.quant for v in tiny.variants] == ["F16", "Q8_0"]
    assert tiny.variants[0].info.file_size > tiny.variants[1].info.file_size
    assert all(v.in_models_dir and not v.error for v in tiny.variants)
    assert tiny.best is tiny.variants[0]
    smol = group(models, BASE.lower()).variants[0]
    assert smol.info.bundled and not smol.in_models_dir
    found = find_group(groups, str(models / "Tiny-1M-Q8_0.gguf"))
    assert found is not None and found.key == "tiny-1m"
    assert find_group(groups, str(models / "missing.gguf")) is None


def test_embedding_models_are_listed_only_when_asked(models: Path) -> None:
    write_gguf(models / "Embed-Small.F16.gguf", arch="bert")
    assert "embed-small" not in {g.key for g in installed_groups(models)}
    embed = group(models, "embed-small", include_embedding=True)
    assert embed.variants[0].info.embedding


def test_a_damaged_file_is_a_variant_with_its_reason(models: Path) -> None:
    (models / "Broken.Q4_0.gguf").write_bytes(b"GGUF" + b"\0" * 12)
    broken = group(models, "broken")
    variant = broken.variants[0]
    assert variant.error and variant.quant == "?" and variant.info.file_size == 16
    assert broken.best is None
    assert quant_choices(broken, Settings(), models_dir=models) == []


def test_a_split_model_is_one_variant_and_a_missing_part_is_named(models: Path) -> None:
    first = write_gguf(models / "Tiny-Split-Q8_0-00001-of-00002.gguf", "Q8_0")
    split = group(models, "tiny-split").variants[0]
    assert split.error == "only 1 of 2 parts are present" and split.files == [first]
    second = write_gguf(models / "Tiny-Split-Q8_0-00002-of-00002.gguf", "Q8_0")
    groups = [g for g in installed_groups(models) if g.key == "tiny-split"]
    assert len(groups) == 1 and len(groups[0].variants) == 1
    split = groups[0].variants[0]
    assert not split.error and split.files == [first, second]
    assert split.info.file_size == first.stat().st_size + second.stat().st_size
    one = group(models, "tiny-1m").variants[1]  # the same tensors in one Q8_0 file
    assert split.info.parameters == 2 * one.info.parameters


# -- delete ----------------------------------------------------------------------------------


def test_delete_is_refused_for_a_model_in_use_and_for_a_bundled_one(models: Path) -> None:
    tiny = group(models, "tiny-1m").variants[1]
    assert delete_refusal(tiny, models, in_use=[]) == ""
    assert "is in use" in delete_refusal(tiny, models, in_use=["", str(tiny.path)])
    with pytest.raises(InvalidRequestError, match="in use"):
        delete_variant(tiny, models, in_use=[str(tiny.path)])
    assert tiny.path.exists()
    smol = group(models, BASE.lower()).variants[0]
    assert "part of the Hearth installation" in delete_refusal(smol, models, in_use=[])


def test_deleting_a_split_model_removes_every_part(models: Path) -> None:
    for i in (1, 2):
        write_gguf(models / f"Tiny-Split-Q8_0-0000{i}-of-00002.gguf", "Q8_0")
    split = group(models, "tiny-split").variants[0]
    removed = delete_variant(split, models, in_use=[])
    assert [p.name for p in removed] == [p.name for p in split.files] and len(removed) == 2
    assert "tiny-split" not in {g.key for g in installed_groups(models)}


# -- quantization choices --------------------------------------------------------------------


def _hub_variant(quant: str, size: int, shards: int = 1) -> HubVariant:
    name = f"Tiny-1M-{quant}"
    return HubVariant(name, quant, [HubFile(f"{name}.gguf", size, None)], shards=shards)


def test_choices_are_installed_downloadable_and_made_best_first(models: Path) -> None:
    tiny = group(models, "tiny-1m")
    records = ModelRecords(models.parent / "models.json")
    records.set_speed(str(tiny.variants[1].path), 42.0)
    repo = RepoFiles(
        "someone/Tiny-1M-GGUF",
        "abc123",
        [
            _hub_variant("Q8_0", 9000),  # installed already
            _hub_variant("Q4_K_M", 5000),
            _hub_variant("Q6_K", 7000, shards=2),  # a part is missing on the hub
            _hub_variant("unknown", 100),
        ],
    )
    choices = quant_choices(tiny, Settings(), records, repo, available=10**12, models_dir=models)
    by_quant = {c.quant: c for c in choices}
    order = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
    assert [c.quant for c in choices] == order
    assert by_quant["F16"].status == by_quant["Q8_0"].status == "installed"
    assert by_quant["Q8_0"].tokens_per_s == 42.0 and by_quant["F16"].tokens_per_s is None
    download = by_quant["Q4_K_M"]
    assert download.status == "download" and download.size == 5000
    assert download.name == "Tiny-1M-Q4_K_M" and download.hub == (repo, repo.variants[1])
    made = by_quant["Q6_K"]  # incomplete on the hub: made from the F16 instead
    assert made.status == "make" and made.source == str(tiny.variants[0].path)
    assert not made.requantize and made.source_quant == "F16"
    assert made.name == "Tiny-1M.Q6_K"
    assert all(c.fit == "fits" and c.memory > 0 for c in choices)


def test_a_quantized_model_offers_only_clearly_smaller_levels_made_by_requantizing(
    smollm2_path: Path, tmp_path: Path
) -> None:
    """The bundled SmolLM2 exists only as Q4_1 (98 MB). Re-quantizing it to Q4_K_M gave a
    105.5 MB file worse than both: such levels are not offered; the clearly smaller ones are,
    marked as re-quantizing (the window asks first)."""
    smol = next(g for g in installed_groups(tmp_path) if g.best and g.best.quant == "Q4_1")
    choices = quant_choices(smol, Settings(), available=10**12, models_dir=tmp_path)
    assert choices[0].quant == "Q4_1" and choices[0].status == "installed"
    made = choices[1:]
    assert [c.quant for c in made] == ["Q3_K_M", "Q2_K"]
    assert all(c.status == "make" and c.requantize and c.source_quant == "Q4_1" for c in made)
    assert all(c.size < 0.8 * smol.best.info.file_size for c in made)
    # memory is compared with what is available: nothing fits in one byte
    tight = quant_choices(smol, Settings(), available=1, models_dir=tmp_path)
    assert {c.fit for c in tight} == {"does not fit"}


# -- records ---------------------------------------------------------------------------------


def test_records_keep_origins_unfinished_downloads_and_speeds(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    path = tmp_path / "config" / "models.json"
    repo = RepoFiles("someone/Tiny-1M-GGUF", "abc123", [_hub_variant("Q4_K_M", 5000)])
    pending = PendingDownload.from_hub(repo, repo.variants[0])
    records = ModelRecords(path)
    records.set_origin("Tiny-1M-Q8_0.gguf", repo.repo_id, "abc123", "Q8_0")
    records.add_download(pending)
    records.set_speed("/m/Tiny-1M-Q8_0.gguf", 12.345)

    again = ModelRecords(path)  # written at once, read back as it was
    assert again.origin("/elsewhere/Tiny-1M-Q8_0.gguf") == {
        "repo_id": repo.repo_id,
        "revision": "abc123",
        "quant": "Q8_0",
    }
    assert again.speed("/m/Tiny-1M-Q8_0.gguf") == 12.35 and again.speed("/m/x.gguf") is None
    assert again.pending_downloads(models) == [pending]
    assert pending.key == "someone/Tiny-1M-GGUF/Tiny-1M-Q4_K_M" and pending.size == 5000
    assert pending.to_hub()[0].repo_id == repo.repo_id
    assert pending.to_hub()[1] == repo.variants[0]
    again.forget_file("Tiny-1M-Q8_0.gguf")
    assert ModelRecords(path).origin("Tiny-1M-Q8_0.gguf") is None

    # once every file is installed, the download is no longer pending (and is forgotten)
    (models / "Tiny-1M-Q4_K_M.gguf").write_bytes(b"x")
    assert again.pending_downloads(models) == []
    assert json.loads(path.read_text(encoding="utf-8"))["downloads"] == {}


def test_a_damaged_records_file_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text("{not json", encoding="utf-8")
    assert ModelRecords(path).data == {"origins": {}, "downloads": {}, "speeds": {}}


def test_a_download_left_by_the_command_line_is_pending(tmp_path: Path) -> None:
    """`hearth models pull` leaves partial bytes and the downloader's sidecar in .partial."""
    models = tmp_path / "models"
    partial = models / ".partial"
    partial.mkdir(parents=True)
    (partial / "Tiny-1M-Q4_K_M.gguf.part").write_bytes(b"\0" * 300)
    sidecar = {"repo_id": "someone/Tiny", "path": "sub/Tiny-1M-Q4_K_M.gguf", "size": 5000}
    (partial / "Tiny-1M-Q4_K_M.gguf.json").write_text(json.dumps(sidecar), encoding="utf-8")
    # a part of a split model is resumed with its variant, never alone
    (partial / "S-00001-of-00002.gguf.part").write_bytes(b"\0")
    shard = {"repo_id": "someone/S", "path": "S-00001-of-00002.gguf", "size": 10}
    (partial / "S-00001-of-00002.gguf.json").write_text(json.dumps(shard), encoding="utf-8")

    [pending] = ModelRecords(tmp_path / "models.json").pending_downloads(models)
    assert (pending.repo_id, pending.revision, pending.name) == (
        "someone/Tiny",
        "main",
        "Tiny-1M-Q4_K_M",
    )
    assert pending.quant == "Q4_K_M" and pending.size == 5000
    assert partial_bytes(models, "sub/Tiny-1M-Q4_K_M.gguf") == 300
    assert partial_bytes(models, "nothing.gguf") == 0


# -- converted checkpoints -------------------------------------------------------------------


def test_a_converted_checkpoint_is_named_after_its_model_card(tmp_path: Path) -> None:
    card = tmp_path / "download" / "model"
    card.mkdir(parents=True)
    assert checkpoint_name(card) == "download"  # a generic folder name: its parent's
    (card / "README.md").write_text("intro\n# all-MiniLM-L6-v2\ntext\n", encoding="utf-8")
    assert checkpoint_name(card) == "all-MiniLM-L6-v2"
    snapshot = tmp_path / "models--sentence-transformers--tiny" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    assert checkpoint_name(snapshot) == "tiny"
    assert checkpoint_name(tmp_path / "download") == "download"


# -- the bundled models ----------------------------------------------------------------------


def test_fit_says_when_a_model_does_not_fit(gemma_path: Path) -> None:
    from engine.catalog import model_info

    info = model_info(gemma_path)
    est, fit = memory_fit(info, 4096, available=10**12)
    assert fit == "fits" and est.kv_bytes > 0 and est.compute_bytes > 0
    assert memory_fit(info, 4096, available=est.total_bytes)[1] == "tight"
    assert memory_fit(info, 4096, available=est.total_bytes // 2)[1] == "does not fit"
    # a longer context needs more: the KV cache grows with it
    assert memory_fit(info, 32768, available=10**12)[0].kv_bytes > 4 * est.kv_bytes


def test_bundled_file_inside_the_installation_is_never_deleted(
    smollm2_path: Path, tmp_path: Path
) -> None:
    group = next(g for g in installed_groups(tmp_path) if g.key == BASE.lower())
    bundled = group.variants[0]
    assert "part of the Hearth installation" in delete_refusal(bundled, tmp_path, in_use=[])


def test_settings_offers_levels_made_from_a_higher_precision_variant(
    smollm2_path: Path, tmp_path: Path
) -> None:
    f16 = tmp_path / f"{BASE}.F16.gguf"
    shutil.copyfile(smollm2_f16(), f16)
    group = next(g for g in installed_groups(tmp_path) if g.key == BASE.lower())
    choices = {c.quant: c for c in quant_choices(group, Settings(), models_dir=tmp_path)}
    assert choices["F16"].status == "installed" and choices["Q4_1"].status == "installed"
    assert choices["Q8_0"].status == "make" and choices["Q8_0"].source == str(f16)
    assert not choices["Q8_0"].requantize
    assert choices["Q8_0"].name == f"{BASE}.Q8_0"
    assert choices["Q2_K"].size < choices["Q8_0"].size < choices["F16"].size
