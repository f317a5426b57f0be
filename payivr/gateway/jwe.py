"""JWE compact serialization (RFC 7516) with RSA-OAEP-256 and A256GCM, on ``cryptography``.

Only this one algorithm pair is supported, on purpose: the header is checked against it
before anything is decrypted, so there is no algorithm confusion to exploit.

:func:`encrypt_card` and :func:`encrypt_bank_account` are the only places in payivr that
read card or bank digits (:meth:`SecretDigits.reveal_into`): each builds the plaintext in a
``bytearray``, encrypts it, and zeroes both the plaintext and the digits, whatever happens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from payivr.core.cards import SecretDigits
from payivr.core.errors import PayivrError
from payivr.core.events import BankAccountDetails, CardDetails

ALG = "RSA-OAEP-256"
ENC = "A256GCM"
MIN_RSA_BITS = 2048

_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class KeyConfigError(PayivrError, ValueError):
    """A key could not be loaded or is not acceptable (configuration problem)."""


class JweError(PayivrError, ValueError):
    """A token is malformed, for another key, or fails authentication."""


def b64url(data: bytes | bytearray) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not text.isascii() or "=" in text:
        raise JweError("invalid base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise JweError("invalid base64url") from exc


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256), the default key id."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(public_key: rsa.RSAPublicKey, kid: str | None = None) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid or jwk_thumbprint(public_key),
        "use": "enc",
        "alg": ALG,
        "n": _int_b64(numbers.n),
        "e": _int_b64(numbers.e),
    }


def _check_size(public_key: rsa.RSAPublicKey) -> None:
    if public_key.key_size < MIN_RSA_BITS:
        raise KeyConfigError(
            f"RSA key of {public_key.key_size} bits; at least {MIN_RSA_BITS} needed"
        )


@dataclass(frozen=True)
class EncryptionKey:
    """The gateway's public key and its key id (``kid``), as configured."""

    kid: str
    public_key: rsa.RSAPublicKey

    @classmethod
    def from_pem(cls, pem: bytes, kid: str | None = None) -> EncryptionKey:
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise KeyConfigError("not a PEM public key") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise KeyConfigError("the gateway key must be an RSA key")
        _check_size(key)
        return cls(kid or jwk_thumbprint(key), key)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], kid: str | None = None) -> EncryptionKey:
        if jwk.get("kty") != "RSA" or "n" not in jwk or "e" not in jwk:
            raise KeyConfigError("the gateway JWK must be an RSA public key (kty, n, e)")
        if jwk.get("alg", ALG) != ALG or jwk.get("use", "enc") != "enc":
            raise KeyConfigError(f"the gateway JWK must be for encryption with {ALG}")
        try:
            numbers = rsa.RSAPublicNumbers(
                int.from_bytes(b64url_decode(jwk["e"]), "big"),
                int.from_bytes(b64url_decode(jwk["n"]), "big"),
            )
            key = numbers.public_key()
        except (JweError, ValueError) as exc:
            raise KeyConfigError("the gateway JWK has invalid n/e") from exc
        _check_size(key)
        return cls(kid or jwk.get("kid") or jwk_thumbprint(key), key)

    @classmethod
    def load(cls, source: str | Path, kid: str | None = None) -> EncryptionKey:
        """From a file (PEM, JWK or a JWKS with one key) or from inline PEM/JWK text."""
        text = str(source)
        if not text.lstrip().startswith(("{", "-----")):
            try:
                text = Path(source).read_text(encoding="ascii")
            except OSError as exc:
                raise KeyConfigError(f"cannot read the gateway public key file {source}") from exc
        if text.lstrip().startswith("-----"):
            return cls.from_pem(text.encode("ascii"), kid)
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise KeyConfigError("the gateway public key is neither PEM nor JSON (JWK)") from exc
        if isinstance(document, dict) and "keys" in document:
            keys = [k for k in document["keys"] if kid is None or k.get("kid") == kid]
            if len(keys) != 1:
                raise KeyConfigError(
                    "the JWKS must hold exactly one key matching the configured kid"
                )
            document = keys[0]
        if not isinstance(document, dict):
            raise KeyConfigError("the gateway JWK must be a JSON object")
        return cls.from_jwk(document, kid)


class DecryptionKeys:
    """The gateway side: private keys by kid, so old and new keys work during a rotation."""

    def __init__(self, keys: Iterable[tuple[str, rsa.RSAPrivateKey]]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_pem_files(cls, paths: Iterable[str | Path]) -> DecryptionKeys:
        keys = []
        for path in paths:
            key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise KeyConfigError(f"{path} is not an RSA private key")
            keys.append((jwk_thumbprint(key.public_key()), key))
        return cls(keys)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def decrypt(self, token: str) -> bytes:
        return decrypt_compact(token, self._keys)[1]


def encrypt_compact(plaintext: bytes | bytearray, key: EncryptionKey) -> str:
    header = json.dumps({"alg": ALG, "enc": ENC, "kid": key.kid}, separators=(",", ":"))
    protected = b64url(header.encode("ascii"))
    cek = bytearray(os.urandom(32))
    try:
        iv = os.urandom(12)
        encrypted_key = key.public_key.encrypt(bytes(cek), _OAEP)
        sealed = AESGCM(bytes(cek)).encrypt(iv, plaintext, protected.encode("ascii"))
    finally:
        cek[:] = bytes(len(cek))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join((protected, b64url(encrypted_key), b64url(iv), b64url(ciphertext), b64url(tag)))


def parse_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWE (safe to log: alg, enc, kid)."""
    parts = token.split(".")
    if len(parts) != 5:
        raise JweError("a compact JWE has 5 parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise JweError("the JWE header is not JSON") from exc
    if not isinstance(header, dict):
        raise JweError("the JWE header is not an object")
    return header


def decrypt_compact(
    token: str, keys: Mapping[str, rsa.RSAPrivateKey]
) -> tuple[dict[str, Any], bytes]:
    header = parse_header(token)
    if header.get("alg") != ALG or header.get("enc") != ENC:
        raise JweError(f"only alg {ALG} with enc {ENC} is accepted")
    if "zip" in header or "crit" in header:
        raise JweError("zip and crit are not supported")
    private_key = keys.get(str(header.get("kid")))
    if private_key is None:
        raise JweError("unknown key id")
    protected, encrypted_key, iv, ciphertext, tag = token.split(".")
    iv_bytes, tag_bytes = b64url_decode(iv), b64url_decode(tag)
    if len(iv_bytes) != 12 or len(tag_bytes) != 16:
        raise JweError("bad IV or tag length")
    try:
        cek = private_key.decrypt(b64url_decode(encrypted_key), _OAEP)
    except ValueError as exc:
        raise JweError("the content key cannot be decrypted") from exc
    if len(cek) != 32:
        raise JweError("bad content key length")
    try:
        plaintext = AESGCM(cek).decrypt(
            iv_bytes, b64url_decode(ciphertext) + tag_bytes, protected.encode("ascii")
        )
    except InvalidTag as exc:
        raise JweError("the token fails authentication") from exc
    return header, plaintext


def _append_json_digits(
    buffer: bytearray, name: bytes, digits: SecretDigits, start: int = 0, stop: int | None = None
) -> None:
    buffer += b'"' + name + b'":"'
    digits.reveal_into(buffer, start, stop)
    buffer += b'"'


def encrypt_card(card: CardDetails, key: EncryptionKey) -> str:
    """The card as a JWE for ``key``; the card and the plaintext are wiped, even on errors.

    Plaintext (JSON): ``number``, ``exp_month`` (MM), ``exp_year`` (YYYY), ``cvc`` (if
    keyed) and ``postal_code`` (if keyed).
    """
    plaintext = bytearray()
    try:
        plaintext += b"{"
        _append_json_digits(plaintext, b"number", card.number)
        if len(card.expiry) != 4:
            raise ValueError("the expiry must be MMYY")
        plaintext += b","
        _append_json_digits(plaintext, b"exp_month", card.expiry, 0, 2)
        plaintext += b',"exp_year":"20'
        card.expiry.reveal_into(plaintext, 2, 4)
        plaintext += b'"'
        if card.security_code is not None:
            plaintext += b","
            _append_json_digits(plaintext, b"cvc", card.security_code)
        if card.postal_code is not None:
            plaintext += b',"postal_code":' + json.dumps(card.postal_code).encode("ascii")
        plaintext += b"}"
        return encrypt_compact(plaintext, key)
    finally:
        plaintext[:] = bytes(len(plaintext))
        plaintext.clear()
        card.wipe()


def encrypt_bank_account(account: BankAccountDetails, key: EncryptionKey) -> str:
    """The bank account as a JWE for ``key``; the account and the plaintext are wiped,
    even on errors.

    Plaintext (JSON): ``routing_number``, ``account_number``, ``account_type``
    (``checking`` or ``savings``).
    """
    plaintext = bytearray()
    try:
        plaintext += b"{"
        _append_json_digits(plaintext, b"routing_number", account.routing_number)
        plaintext += b","
        _append_json_digits(plaintext, b"account_number", account.account_number)
        plaintext += b',"account_type":' + json.dumps(account.account_type.value).encode("ascii")
        plaintext += b"}"
        return encrypt_compact(plaintext, key)
    finally:
        plaintext[:] = bytes(len(plaintext))
        plaintext.clear()
        account.wipe()
