"""R19 basics: the SecretBox format, wrong passphrases, and the sample's encrypted source secrets."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.crypto import PREFIX, SecretBox, new_salt
from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.installation import parse_connection_string
from groupid_upgrade.sample.generator import SampleGenerator, SampleSpec
from groupid_upgrade.source.installation import SourceInstallation
from support import leaks

pytest_plugins = ["helpers"]

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def salt() -> str:
    return new_salt()


@pytest.fixture(scope="module")
def box(salt: str) -> SecretBox:
    return SecretBox(PASSPHRASE, salt, owner="target")


@pytest.mark.parametrize("plaintext", ["s3cret!", "", "Ünïcødé – 密码 🔑", "x" * 10_000, 'a;b="c"}'])
def test_r19_round_trip(box: SecretBox, plaintext: str) -> None:
    token = box.encrypt(plaintext)
    assert token.startswith(PREFIX)
    assert box.decrypt(token, what="a test secret") == plaintext


def test_r19_round_trip_bytes(box: SecretBox) -> None:
    data = bytes(range(256))
    assert box.decrypt_bytes(box.encrypt(data), what="bytes") == data


def test_r19_token_does_not_hold_the_plaintext(box: SecretBox) -> None:
    secret = "Plain-Text-Secret-123"
    token = box.encrypt(secret)
    raw = base64.b64decode(token[len(PREFIX) :])
    leaks.assert_no_leaks({"the plaintext": secret}, texts={"token": token, "decoded token": raw})


def test_r19_each_encryption_uses_a_fresh_nonce(box: SecretBox) -> None:
    tokens = {box.encrypt("same") for _ in range(20)}
    assert len(tokens) == 20


def test_r19_same_passphrase_and_salt_decrypt_across_boxes(box: SecretBox, salt: str) -> None:
    other = SecretBox(PASSPHRASE, salt, owner="target")
    assert other.decrypt(box.encrypt("shared"), what="x") == "shared"


@pytest.mark.parametrize("wrong", ["correct horse battery stapler", "", PASSPHRASE.upper()])
def test_r19_wrong_passphrase_is_passphrase_invalid(box: SecretBox, salt: str, wrong: str) -> None:
    token = box.encrypt("s3cret")
    other = SecretBox(wrong, salt, owner="target")
    with pytest.raises(EngineError) as info:
        other.decrypt(token, what="x")
    assert info.value.error_id == "PassphraseInvalid"
    leaks.assert_no_leaks({"the plaintext": "s3cret", "the passphrase": PASSPHRASE},
                          texts={"error": str(info.value.to_error_object())})
    with pytest.raises(EngineError) as info:
        other.verify(box.check_value())
    assert info.value.error_id == "PassphraseInvalid"


def test_r19_other_salt_is_passphrase_invalid(box: SecretBox) -> None:
    other = SecretBox(PASSPHRASE, new_salt(), owner="source")
    with pytest.raises(EngineError) as info:
        other.decrypt(box.encrypt("x"), what="x")
    assert info.value.error_id == "PassphraseInvalid"
    assert "source" in info.value.message


def test_r19_verify_accepts_the_right_passphrase(box: SecretBox, salt: str) -> None:
    SecretBox(PASSPHRASE, salt, owner="target").verify(box.check_value())


def test_r19_tampered_token_is_refused(box: SecretBox) -> None:
    raw = bytearray(base64.b64decode(box.encrypt("secret value")[len(PREFIX) :]))
    raw[-1] ^= 1
    with pytest.raises(EngineError) as info:
        box.decrypt(PREFIX + base64.b64encode(bytes(raw)).decode(), what="x")
    assert info.value.error_id == "PassphraseInvalid"


def test_r19_unknown_format_is_refused(box: SecretBox) -> None:
    with pytest.raises(EngineError) as info:
        box.decrypt("plain text", what="the password of store X")
    assert info.value.error_id == "DatabaseSchemaUnknown"
    assert "store X" in info.value.message
    assert "plain text" not in info.value.message


# --- the sample's secrets ---------------------------------------------------------------------------
def generated_secrets(sample: helpers.Sample):
    """The sample's plaintext secrets: the generator derives them from the seed alone."""
    return SampleGenerator(SampleSpec(out=Path("/nonexistent"), seed=sample.manifest["seed"])).secrets


def test_r19_sample_source_secrets_decrypt_with_the_sample_passphrase(sample: helpers.Sample) -> None:
    answers = load_answer_file(sample.answer_file)
    assert answers.source.passphrase.get_secret_value() == sample.secrets["source"]["passphrase"]
    known = generated_secrets(sample)
    assert known.source_passphrase == sample.secrets["source"]["passphrase"]
    with SourceInstallation(answers.source) as source:
        box = source.secret_box()
        by_store = {s.id: s for s in source.identity_stores()}
        decrypted = {
            sid: box.decrypt(s.service_account_password.get_secret_value(), what=s.label)
            for sid, s in by_store.items()
            if s.service_account_password
        }
        providers = [
            box.decrypt(m.password.get_secret_value(), what="provider")
            for m in source.messaging_providers()
            if m.password
        ]
    assert decrypted[1] == known.fabrikam_service
    assert set(decrypted.values()) <= set(known.all_values())
    assert len(decrypted) >= 3
    assert providers == [known.exchange]


def test_r19_sample_job_passwords_decrypt_with_the_sample_passphrase(sample: helpers.Sample) -> None:
    answers = load_answer_file(sample.answer_file)
    known = set(generated_secrets(sample).all_values())
    found = 0
    with SourceInstallation(answers.source) as source:
        box = source.secret_box()
        for job in source.synchronize().all_jobs():
            password = job.destination.connection.get("Password")
            if password:
                assert password.startswith(PREFIX)
                assert box.decrypt(password, what=job.name) in known
                found += 1
    assert found >= 5


def test_r19_sample_holds_no_secret_in_clear(sample: helpers.Sample) -> None:
    assert leaks.assert_no_leaks(leaks.sample_secrets(sample.root), paths=[sample.source]).files >= 20


def test_r19_sample_dtmconfig_passwords_are_encrypted(sample: helpers.Sample) -> None:
    count = 0
    for path in helpers.dtmconfig_files(sample.jobs_folder):
        for match in re.finditer(r'ConnectionString="([^"]*)"', path.read_text(encoding="utf-8")):
            text = match.group(1).replace("&quot;", '"').replace("&amp;", "&")
            password = parse_connection_string(text).get("Password")
            if password is not None:
                assert password.startswith(PREFIX)
                count += 1
    assert count > 0


def test_r19_wrong_source_passphrase_is_passphrase_invalid(sample: helpers.Sample, tmp_path: Path) -> None:
    data = sample.answers
    data["source"]["programFiles"] = str(sample.program_files)
    data["source"]["programData"] = str(sample.program_data)
    data["source"]["database"]["path"] = str(sample.database)
    data["source"]["passphrase"] = sample.secrets["source"]["passphrase"] + "x"
    data.pop("secretsFile")
    answers = load_answer_file(helpers.write_json(tmp_path / "a.json", data))
    with SourceInstallation(answers.source) as source, pytest.raises(EngineError) as info:
        source.secret_box()
    assert info.value.error_id == "PassphraseInvalid"
    leaks.assert_no_leaks({"the wrong passphrase": data["source"]["passphrase"]},
                          texts={"error": str(info.value.to_error_object())})


def test_r19_missing_source_passphrase_is_passphrase_missing(sample: helpers.Sample, tmp_path: Path) -> None:
    data = sample.answers
    data["source"]["programFiles"] = str(sample.program_files)
    data["source"]["programData"] = str(sample.program_data)
    data["source"]["database"]["path"] = str(sample.database)
    data.pop("secretsFile")
    answers = load_answer_file(helpers.write_json(tmp_path / "a.json", data))
    with SourceInstallation(answers.source) as source, pytest.raises(EngineError) as info:
        source.secret_box()
    assert info.value.error_id == "PassphraseMissing"
