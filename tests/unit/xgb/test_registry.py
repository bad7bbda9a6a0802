from __future__ import annotations

import json
import pickle
import shutil
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engines.errors import InputError
from engines.xgb.demo import bundled_registry
from engines.xgb.registry import ModelRegistry
from engines.xgb.signing import TrustedKey, key_id_of, public_bytes, sign
from engines.xgb.targets import TARGETS


def _snapshot(root):
    if not root.exists():
        return {}
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_signed_model_installs_and_loads(registry, package, audit_log):
    rec = registry.install_package(package, actor="it-admin", activate=True)
    assert rec.action == "activate" and rec.ok and rec.version == "1"
    model = registry.load("relapse_6m")
    assert model.card.model_version == "relapse_6m@1"
    assert [r.action for r in audit_log] == ["install", "activate"]
    assert audit_log[0].model_sha256 == model.card.model_sha256


def test_unsigned_model_refused(registry, package, audit_log):
    (package / "signature.json").unlink()
    with pytest.raises(InputError, match="unsigned model"):
        registry.install_package(package, actor="it-admin")
    assert registry.versions("relapse_6m") == []
    assert audit_log[-1].action == "refuse" and not audit_log[-1].ok


def _flip_a_leaf_digit(path):
    data = bytearray(path.read_bytes())
    i = data.index(b'"base_weights":[') + len(b'"base_weights":[') + 1
    while not chr(data[i]).isdigit():
        i += 1
    data[i] = ord("9") if data[i] != ord("9") else ord("8")
    path.write_bytes(bytes(data))


def test_tampered_model_file_refused(registry, package):
    _flip_a_leaf_digit(package / "model.json")
    with pytest.raises(InputError, match="SHA-256 does not match"):
        registry.install_package(package, actor="it-admin")


def test_tampered_card_refused_even_with_matching_hash(registry, package):
    card = json.loads((package / "card.json").read_text())
    card["metrics"]["held_out"]["auc"]["value"] = 0.99  # inflate the advertised performance
    (package / "card.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="signature does not match"):
        registry.install_package(package, actor="it-admin")


def test_model_altered_after_install_refused_at_load(registry, package, audit_log):
    registry.install_package(package, actor="it-admin", activate=True)
    installed = registry.root / "relapse_6m" / "1" / "model.json"
    _flip_a_leaf_digit(installed)
    with pytest.raises(InputError, match="altered"):
        registry.load("relapse_6m")
    assert audit_log[-1].action == "refuse"


@pytest.mark.parametrize(
    "payload,match",
    [
        (pickle.dumps({"learner": "x"}, protocol=4), "pickle"),
        (pickle.dumps({"learner": "x"}, protocol=2), "pickle"),
        (zlib.compress(pickle.dumps({"learner": "x"})), "compressed"),
        (b"PK\x03\x04 not a model", "unrecognised"),
    ],
)
def test_pickle_and_joblib_refused_by_content(registry, package, payload, match):
    # the file keeps its .json name: only the bytes are looked at
    (package / "model.json").write_bytes(payload)
    before = _snapshot(registry.root)
    with pytest.raises(InputError, match=match):
        registry.install_package(package, actor="it-admin")
    assert _snapshot(registry.root) == before


def test_untrusted_key_refused(registry, package, trained_relapse):
    other = Ed25519PrivateKey.generate()
    sig = sign(trained_relapse.card, trained_relapse.card["model_sha256"], other)
    (package / "signature.json").write_text(json.dumps(sig.to_json()))
    with pytest.raises(InputError, match="untrusted key"):
        registry.install_package(package, actor="it-admin")


def test_demo_key_cannot_vouch_for_clinic_model(tmp_path, package, key):
    pub = public_bytes(key)
    demo_only = ModelRegistry(tmp_path / "r2", [TrustedKey(key_id_of(pub), pub, "demo")])
    with pytest.raises(InputError, match="demo key may only sign"):
        demo_only.install_package(package, actor="it-admin")


def test_versions_activate_and_rollback_are_audited(
    registry, package, trained_relapse, key, tmp_path, audit_log
):
    from dataclasses import replace

    from engines.xgb.training import write_package

    registry.install_package(package, actor="it", activate=True)
    v2 = replace(trained_relapse, card=trained_relapse.card | {"version": "2"})
    registry.install_package(write_package(v2, tmp_path / "pkg2", key), actor="it")
    assert registry.versions("relapse_6m") == ["1", "2"]
    assert registry.active_version("relapse_6m") == "1"
    rec = registry.activate("relapse_6m", "2", actor="it", reason="better")
    assert rec.previous_active == "1" and registry.active_version("relapse_6m") == "2"
    rb = registry.rollback("relapse_6m", actor="it", reason="clinician feedback")
    assert rb.action == "rollback" and rb.version == "1" and rb.previous_active == "2"
    assert registry.active_version("relapse_6m") == "1"
    with pytest.raises(InputError, match="no earlier"):
        registry.rollback("relapse_6m", actor="it")
    assert [r.action for r in audit_log] == [
        "install",
        "activate",
        "install",
        "activate",
        "rollback",
        "rollback",
    ]
    assert [h["action"] for h in registry.history("relapse_6m")] == [
        "activate",
        "activate",
        "rollback",
    ]


def test_reinstalling_same_version_refused(registry, package):
    registry.install_package(package, actor="it")
    with pytest.raises(InputError, match="already installed"):
        registry.install_package(package, actor="it")


def test_read_only_registry_refuses_changes(tmp_path, trusted, package):
    ro = ModelRegistry(tmp_path / "ro", [trusted], read_only=True)
    with pytest.raises(InputError, match="read-only"):
        ro.install_package(package, actor="it")


def test_every_shipped_demo_model_verifies():
    reg = bundled_registry()
    assert set(reg.names()) == set(TARGETS)
    for name in reg.names():
        model = reg.load(name)
        assert model.key_scope == "demo"
        assert model.card.synthetic
        assert "trained on synthetic data — demonstration only" in model.card.raw["labels"]
        assert (model.path.stat().st_size) < 100_000  # few trees, small files


def test_copied_demo_model_with_edited_card_is_refused(tmp_path):
    reg = bundled_registry()
    src = reg.root / "hosp_90d"
    dst = tmp_path / "models" / "hosp_90d"
    shutil.copytree(src, dst)
    card_path = dst / "1" / "card.json"
    card = json.loads(card_path.read_text())
    card["training_data"]["kind"] = "clinic"
    card_path.write_text(json.dumps(card))
    copy = ModelRegistry(tmp_path / "models", reg.trusted_keys)
    with pytest.raises(InputError):
        copy.load("hosp_90d")
