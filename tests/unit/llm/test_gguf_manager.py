from __future__ import annotations

import hashlib
import json
import shutil

import gguf
import pytest

from engines.errors import EngineConfigError, InputError
from engines.llm.gguf_meta import read_gguf_info
from engines.llm.hardware import Hardware, physical_cores
from engines.llm.manager import DEMO_LABEL, ModelManager, load_manifest

CPU = Hardware(physical_cores=4, gpu_offload=False, free_vram_bytes=None)


def test_metadata_matches_gguf_reader(tiny_gguf):
    info = read_gguf_info(tiny_gguf)
    reader = gguf.GGUFReader(tiny_gguf)
    assert info.architecture == "llama"
    assert info.parameters == sum(int(t.n_elements) for t in reader.tensors)
    assert info.vocab_size == len(reader.fields["tokenizer.ggml.tokens"].data)
    assert info.context_length == 4096
    assert info.block_count == 2
    assert info.file_type == "ALL_F32"
    assert info.chat_template and "<|im_start|>" in info.chat_template


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b"XXXX" + b[4:], "bad magic"),
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:200], "corrupt"),
        (lambda b: b[:8] + b"\xff" * 16 + b[24:], "implausible"),
    ],
)
def test_corrupt_files_rejected_with_file_name(tiny_gguf, tmp_path, damage, message):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(damage(tiny_gguf.read_bytes()))
    with pytest.raises(InputError, match=message) as exc:
        read_gguf_info(bad)
    assert str(bad) in str(exc.value)


def _models(tmp_path, tiny_gguf):
    user, site = tmp_path / "user", tmp_path / "site"
    user.mkdir()
    site.mkdir()
    shutil.copy(tiny_gguf, user / "a.gguf")
    shutil.copy(tiny_gguf, site / "SmolLM2-135M-Instruct.Q4_1.gguf")
    (site / "a.gguf").write_bytes(b"shadowed by the user copy")
    (site / "junk.gguf").write_bytes(b"GGUF" + b"\0" * 30)
    return user, site


def test_discovery_labels_and_report(tmp_path, tiny_gguf):
    user, site = _models(tmp_path, tiny_gguf)
    mm = ModelManager([user, site], hw=CPU)
    entries = {e.path.name: e for e in mm.discover()}
    assert set(entries) == {"a.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf", "junk.gguf"}
    assert entries["a.gguf"].path.parent == user  # first directory wins
    assert not entries["junk.gguf"].usable and "junk.gguf" in entries["junk.gguf"].error
    assert entries["SmolLM2-135M-Instruct.Q4_1.gguf"].label == DEMO_LABEL
    report = mm.report()
    assert report["physical_cores"] == 4 and report["gpu_offload_supported"] is False
    by_file = {m["file"]: m for m in report["models"]}
    assert by_file["a.gguf"]["offload"] == "cpu" and by_file["a.gguf"]["threads"] == 4
    assert by_file["junk.gguf"]["usable"] is False
    json.dumps(report)  # doctor prints it as JSON


def test_offload_choice(tiny_gguf):
    info = read_gguf_info(tiny_gguf)
    big_gpu = ModelManager([], hw=Hardware(8, True, 80 * 2**30))
    small_gpu = ModelManager([], hw=Hardware(8, True, 1024))
    assert big_gpu.load_params(info).n_gpu_layers == -1
    assert small_gpu.load_params(info).n_gpu_layers == 0
    assert ModelManager([], hw=CPU).load_params(info, n_ctx=99999).n_ctx == 4096
    assert 1 <= physical_cores()


def test_manifest_verification(tmp_path, tiny_gguf):
    user, site = _models(tmp_path, tiny_gguf)
    digest = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"a.gguf": digest, "SmolLM2-135M-Instruct.Q4_1.gguf": "0" * 64}))
    mm = ModelManager([user, site], manifest=manifest, hw=CPU)
    assert mm.verify(user / "a.gguf") == digest
    prov = mm.provenance(user / "a.gguf")
    assert prov.sha256 == digest and prov.clinical_validity is False
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        mm.verify(site / "SmolLM2-135M-Instruct.Q4_1.gguf")
    with pytest.raises(InputError, match="not listed in the IT model manifest"):
        mm.verify(site / "junk.gguf")
    manifest.write_text("{not json")
    with pytest.raises(EngineConfigError, match=r"manifest.json: line 1"):
        load_manifest(manifest)
    manifest.write_text(json.dumps({"a.gguf": "xyz"}))
    with pytest.raises(EngineConfigError, match="64-digit"):
        load_manifest(manifest)
