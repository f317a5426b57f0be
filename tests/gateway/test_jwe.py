import json
import shutil
import subprocess

import pytest
from _gateway_helpers import Keys, buffers, card
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.gateway.jwe import (
    DecryptionKeys,
    EncryptionKey,
    JweError,
    KeyConfigError,
    b64url,
    b64url_decode,
    encrypt_card,
    encrypt_compact,
)


def decrypt(keys: Keys, token: str) -> dict[str, str]:
    return json.loads(DecryptionKeys([(keys.kid, keys.private)]).decrypt(token))


def test_card_token_round_trips_and_has_the_compact_structure(keys: Keys):
    details = card("4242424242424242", "0631", "321", "94107")
    token = encrypt_card(details, keys.encryption_key)

    parts = token.split(".")
    assert len(parts) == 5
    assert all(parts) and all(set(p) <= set(b64url(bytes(range(256)))) for p in parts)
    header = json.loads(b64url_decode(parts[0]))
    assert header == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": keys.kid}
    assert len(b64url_decode(parts[1])) == 256  # RSA-2048 encrypted content key
    assert len(b64url_decode(parts[2])) == 12  # 96-bit IV
    assert len(b64url_decode(parts[4])) == 16  # 128-bit tag
    assert "4242424242424242" not in token

    assert decrypt(keys, token) == {
        "number": "4242424242424242",
        "exp_month": "06",
        "exp_year": "2031",
        "cvc": "321",
        "postal_code": "94107",
    }


def test_card_is_wiped_after_encryption(keys: Keys):
    details = card("5555555555554444")
    encrypt_card(details, keys.encryption_key)
    assert all(buffer.wiped and len(buffer) == 0 for buffer in buffers(details))


def test_card_is_wiped_when_encryption_fails(keys: Keys):
    details = card("5555555555554444", expiry="123")  # not MMYY: the builder raises
    with pytest.raises(ValueError):
        encrypt_card(details, keys.encryption_key)
    assert all(buffer.wiped for buffer in buffers(details))


def test_each_token_is_fresh(keys: Keys):
    first = encrypt_compact(b"same", keys.encryption_key)
    second = encrypt_compact(b"same", keys.encryption_key)
    assert first != second
    assert decrypt_raw(keys, first) == decrypt_raw(keys, second) == b"same"


def decrypt_raw(keys: Keys, token: str) -> bytes:
    return DecryptionKeys([(keys.kid, keys.private)]).decrypt(token)


@pytest.mark.parametrize("part", [0, 1, 2, 3, 4])
def test_tampering_with_any_part_is_detected(keys: Keys, part: int):
    parts = encrypt_compact(b'{"number":"4242424242424242"}', keys.encryption_key).split(".")
    raw = bytearray(b64url_decode(parts[part]))
    if part == 0:
        raw = bytearray(
            json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": keys.kid, "x": 1}).encode()
        )
    else:
        raw[0] ^= 1
    parts[part] = b64url(raw)
    with pytest.raises(JweError):
        decrypt_raw(keys, ".".join(parts))


def test_other_algorithms_and_unknown_kids_are_refused(keys: Keys):
    token = encrypt_compact(b"x", keys.encryption_key)
    parts = token.split(".")
    for header in (
        {"alg": "RSA1_5", "enc": "A256GCM", "kid": keys.kid},
        {"alg": "dir", "enc": "A256GCM", "kid": keys.kid},
        {"alg": "RSA-OAEP-256", "enc": "A128CBC-HS256", "kid": keys.kid},
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "rotated-away"},
    ):
        forged = ".".join([b64url(json.dumps(header).encode()), *parts[1:]])
        with pytest.raises(JweError):
            decrypt_raw(keys, forged)
    with pytest.raises(JweError):
        decrypt_raw(keys, "a.b.c")


def test_rotation_old_and_new_keys_both_decrypt(keys: Keys):
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new_key = EncryptionKey.from_pem(
        new.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        kid="2026-11",
    )
    ring = DecryptionKeys([(keys.kid, keys.private), ("2026-11", new)])
    assert ring.decrypt(encrypt_compact(b"old", keys.encryption_key)) == b"old"
    assert ring.decrypt(encrypt_compact(b"new", new_key)) == b"new"


def test_public_key_loads_from_pem_jwk_jwks_files_and_inline(keys: Keys):
    from_pem = EncryptionKey.load(keys.public_pem)
    from_jwk = EncryptionKey.load(keys.public_jwk)
    inline = EncryptionKey.load(keys.public_jwk.read_text())
    jwks = json.dumps({"keys": [json.loads(keys.public_jwk.read_text())]})
    from_jwks = EncryptionKey.load(jwks, kid=keys.kid)
    assert from_pem.kid == from_jwk.kid == inline.kid == from_jwks.kid == keys.kid
    assert EncryptionKey.load(keys.public_pem, kid="configured").kid == "configured"
    assert from_pem.public_key.public_numbers() == keys.private.public_key().public_numbers()


def test_unusable_keys_are_config_errors(keys: Keys, tmp_path):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyConfigError, match="at least 2048"):
        EncryptionKey.from_pem(pem)
    with pytest.raises(KeyConfigError):
        EncryptionKey.load(tmp_path / "missing.pem")
    with pytest.raises(KeyConfigError):
        EncryptionKey.load('{"kty": "EC", "crv": "P-256"}')
    with pytest.raises(KeyConfigError):
        EncryptionKey.load(json.dumps({"keys": []}))


# joserfc is not a dependency; when the system Python has it, check interoperability both ways.
_INTEROP = r"""
import json, sys
from joserfc import jwe
from joserfc.jwk import RSAKey
request = json.load(sys.stdin)
key = RSAKey.import_key(request["private_pem"])
registry = jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"])
decrypted = jwe.decrypt_compact(request["token"], key, registry=registry)
ours = jwe.encrypt_compact(
    {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": request["kid"]},
    b"from joserfc", key, registry=registry,
)
print(json.dumps({"header": decrypted.protected, "plaintext": decrypted.plaintext.decode(), "theirs": ours}))
"""


def _system_python_with_joserfc() -> str | None:
    python = shutil.which("python3")
    if python is None:
        return None
    probe = subprocess.run([python, "-c", "import joserfc"], capture_output=True, check=False)
    return python if probe.returncode == 0 else None


def test_interoperates_with_joserfc(keys: Keys):
    python = _system_python_with_joserfc()
    if python is None:
        pytest.skip("joserfc is not installed for the system python3")
    token = encrypt_compact(b'{"number":"4111"}', keys.encryption_key)
    request = {"private_pem": keys.private_pem.read_text(), "token": token, "kid": keys.kid}
    done = subprocess.run(
        [python, "-c", _INTEROP],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    answer = json.loads(done.stdout)
    assert answer["plaintext"] == '{"number":"4111"}'
    assert answer["header"] == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": keys.kid}
    assert decrypt_raw(keys, answer["theirs"]) == b"from joserfc"
