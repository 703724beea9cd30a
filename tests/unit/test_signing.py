"""Ed25519 signing of manifests: keys, canonical bytes, and every way a signature fails."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from core.registry import SigningKeyMissing
from core.settings import PublisherSection, Settings, TrustSection
from core.signing import (
    KeyFormatError,
    SignatureInvalid,
    SignatureMissing,
    TrustedKeys,
    UnknownSigner,
    generate_keypair,
    load_private_key,
)
from schemas.manifest import canonical_json
from tests.registry_kit import good, keys, manifest_for


def test_canonical_json_ignores_key_order_and_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})
    assert canonical_json({"a": "é"}) == '{"a":"é"}'.encode()


def test_signed_manifest_verifies_and_any_change_breaks_it() -> None:
    signer, trust, _ = keys()
    manifest = manifest_for(good(128), "face-embedder", "1.1.0").signed(signer)
    trust.verify_document(manifest)
    assert manifest.signed_by == signer.key_id
    for change in (
        {"sha256": "1" * 64},
        {"version": "1.1.1"},
        {"validation_metrics": {"eer": 0.5}},
    ):
        with pytest.raises(SignatureInvalid):
            trust.verify_document(manifest.model_copy(update=change))


def test_missing_and_foreign_signatures_are_refused() -> None:
    signer, trust, _ = keys()
    other, _, _ = keys()
    manifest = manifest_for(good(128), "face-embedder", "1.1.0")
    with pytest.raises(SignatureMissing) as missing:
        trust.verify_document(manifest)
    assert missing.value.reason == "signature_missing"
    with pytest.raises(UnknownSigner) as foreign:
        trust.verify_document(manifest.signed(other))
    assert foreign.value.reason == "signature_untrusted"
    # A signature by another key, relabelled as ours, still fails.
    forged = manifest.signed(other).model_copy(update={"signed_by": signer.key_id})
    with pytest.raises(SignatureInvalid):
        trust.verify_document(forged)
    garbage = manifest.signed(signer).model_copy(update={"signature": "AAAA"})
    with pytest.raises(SignatureInvalid):
        trust.verify_document(garbage)


def test_keys_load_from_base64_pem_and_files(tmp_path: Path) -> None:
    private, public = generate_keypair()
    key = load_private_key(private)
    pem_private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    pem_public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert load_private_key(pem_private).public_key() == key.public_key()
    assert TrustedKeys.parse(pem_public).ids == TrustedKeys.parse(public).ids
    _, second = generate_keypair()
    assert len(TrustedKeys.parse(f"{public}, {second}").ids) == 2

    (tmp_path / "signing.key").write_text(private + "\n")
    (tmp_path / "trusted.pub").write_text(public + "\n")
    publisher = PublisherSection(signing_key_file=tmp_path / "signing.key")
    trust = TrustSection(public_keys_file=tmp_path / "trusted.pub")
    assert trust.keys().ids == [publisher.signer().key_id]

    with pytest.raises(KeyFormatError):
        load_private_key(base64.b64encode(b"short").decode())
    with pytest.raises(KeyFormatError):
        load_private_key("not base64!")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    private, public = generate_keypair()
    monkeypatch.setenv("KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY", private)
    monkeypatch.setenv("KIBALOCK_MODELS__TRUST__PUBLIC_KEYS", public)
    monkeypatch.setenv("KIBALOCK_MODELS__WATCH_WINDOW_S", "42")
    models = Settings().models
    assert models.watch_window_s == 42.0
    assert models.trust.keys().ids == [models.publisher.signer().key_id]
    monkeypatch.delenv("KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY")
    monkeypatch.delenv("KIBALOCK_MODELS__TRUST__PUBLIC_KEYS")
    models = Settings().models
    with pytest.raises(SigningKeyMissing, match="KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY"):
        models.publisher.signer()
    with pytest.raises(SigningKeyMissing, match="KIBALOCK_MODELS__TRUST__PUBLIC_KEYS"):
        models.trust.keys()
    assert models.trust.keys(required=False).ids == []
