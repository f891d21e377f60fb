"""AES-GCM encryption of Temporal payloads and of personal data at rest, with key rotation.

Every payload a client or worker of this project sends to Temporal goes through `EncryptionCodec`: the
serialised payload is encrypted with AES-256-GCM under the *active* key and replaced by a payload whose
metadata says `encoding: binary/encrypted` and `encryption-key-id: <key id>`. Decoding accepts any key the
key ring knows, so rotating keys is: add a new key, make it active, keep the old ones for as long as
histories (or `case_pii` rows) encrypted with them exist. An unknown key id is a clear error, never a
silent pass-through.

The same `KeyRing` encrypts the `case_pii` table and the outbox's recipient contacts (activities).

Where keys come from (`KeyRing.from_settings`):

* `COMPLAINTS_CODEC_KEYS` - JSON object `{"<key id>": "<base64 of 32 random bytes>", ...}` and
  `COMPLAINTS_CODEC_ACTIVE_KEY_ID` - the key new payloads are encrypted with (defaults to the only key, or
  the last one in sorted order). This is how production (docker-compose, Temporal Cloud) is configured;
  generate a key with `python -m common.codec new-key`.
* otherwise, in the embedded mode only (`COMPLAINTS_MODE=embedded`, the default), a development key file
  `<COMPLAINTS_DATA_DIR>/codec-keys.json` (default `.data/codec-keys.json`) created once, mode 0600, on first
  use and shared by the worker, the CLI and the codec server. Delete `.data` and old local histories can
  no longer be decoded - that is the point. In `production` mode no keys is a startup error.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from common.settings import Settings, get_settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_SIZE = 12
KEY_FILE_NAME = "codec-keys.json"


class CodecKeyError(ValueError):
    """A key is missing, unknown or malformed, or a ciphertext does not decrypt with its key."""


def _decode_key(key_id: str, value: str | bytes) -> bytes:
    if isinstance(value, bytes) and len(value) == 32:
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError) as exc:
        raise CodecKeyError(f"codec key {key_id!r} is not valid base64") from exc
    if len(raw) != 32:
        raise CodecKeyError(f"codec key {key_id!r} must be 32 bytes (AES-256), got {len(raw)}")
    return raw


def new_key() -> str:
    """A fresh random AES-256 key, base64-encoded (the form `COMPLAINTS_CODEC_KEYS` takes)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class KeyRing:
    """Named AES-256-GCM keys: encrypt with the active one, decrypt with any of them."""

    def __init__(self, keys: Mapping[str, str | bytes], active_key_id: str | None = None) -> None:
        if not keys:
            raise CodecKeyError("no codec keys configured (set COMPLAINTS_CODEC_KEYS)")
        self._keys = {kid: AESGCM(_decode_key(kid, v)) for kid, v in keys.items()}
        active = active_key_id or sorted(self._keys)[-1]
        if active not in self._keys:
            raise CodecKeyError(
                f"active codec key id {active!r} is not among the configured keys {sorted(self._keys)}"
            )
        self.active_key_id = active

    @property
    def key_ids(self) -> list[str]:
        """Known key ids, sorted."""
        return sorted(self._keys)

    def encrypt(self, plaintext: bytes, aad: bytes | None = None) -> tuple[str, bytes]:
        """Encrypt with the active key; returns (key id, nonce || ciphertext+tag)."""
        nonce = secrets.token_bytes(NONCE_SIZE)
        return self.active_key_id, nonce + self._keys[self.active_key_id].encrypt(nonce, plaintext, aad)

    def decrypt(self, key_id: str, blob: bytes, aad: bytes | None = None) -> bytes:
        """Decrypt `blob` (nonce || ciphertext) with key `key_id`; clear errors for unknown keys or tampering."""
        aead = self._keys.get(key_id)
        if aead is None:
            raise CodecKeyError(
                f"unknown encryption key id {key_id!r}: this process knows {self.key_ids}; "
                "add the old key to COMPLAINTS_CODEC_KEYS to read data encrypted with it"
            )
        if len(blob) <= NONCE_SIZE:
            raise CodecKeyError(f"ciphertext for key {key_id!r} is too short")
        try:
            return aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], aad)
        except InvalidTag as exc:
            raise CodecKeyError(
                f"data does not decrypt with key {key_id!r}: wrong key material or tampered ciphertext"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> KeyRing:
        """Keys from `COMPLAINTS_CODEC_KEYS`, or (embedded mode) the dev key file under the data folder."""
        if settings is None:
            settings = get_settings()
        if settings.codec_keys:
            return cls(settings.codec_keys, settings.codec_active_key_id)
        if settings.mode != "embedded":
            raise CodecKeyError(
                "COMPLAINTS_CODEC_KEYS is required outside the embedded mode "
                '(JSON {"key-id": "<base64 32 bytes>"}; generate one with `python -m common.codec new-key`)'
            )
        path = settings.codec_key_file or Path(settings.data_dir) / KEY_FILE_NAME
        keys, active = load_or_create_key_file(path)
        return cls(keys, settings.codec_active_key_id or active)


def load_or_create_key_file(path: Path) -> tuple[dict[str, str], str]:
    """Read the dev key file, creating it (atomically, mode 0600) with one fresh key if it is missing.

    Format: `{"active": "<key id>", "keys": {"<key id>": "<base64>"}}`. Two processes starting at once
    end up with the same file (the loser of the race reads the winner's).
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key_id = "dev-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        body = json.dumps({"active": key_id, "keys": {key_id: new_key()}}, indent=2)
        fd, tmp = tempfile.mkstemp(prefix=".codec-keys-", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
            try:
                os.link(tmp, path)  # atomic, fails if another process won the race
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = {str(k): str(v) for k, v in data["keys"].items()}
        active = str(data.get("active") or sorted(keys)[-1])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CodecKeyError(f"codec key file {path} is malformed: {exc}") from exc
    return keys, active


class EncryptionCodec(PayloadCodec):
    """Temporal payload codec: AES-256-GCM with the key id in the payload metadata."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the active key."""
        out = []
        for p in payloads:
            key_id, blob = self.keyring.encrypt(
                p.SerializeToString(), aad=key_id_aad(self.keyring.active_key_id)
            )
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=blob))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads with the key named in their metadata; others pass through."""
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)
                continue
            raw_id = p.metadata.get(KEY_ID_METADATA)
            if not raw_id:
                raise CodecKeyError(f"encrypted payload has no {KEY_ID_METADATA!r} metadata")
            key_id = raw_id.decode()
            out.append(Payload.FromString(self.keyring.decrypt(key_id, p.data, aad=key_id_aad(key_id))))
        return out


def key_id_aad(key_id: str) -> bytes:
    """Associated data binding a payload ciphertext to its key id (a relabelled payload fails to decrypt)."""
    return b"temporal-payload:" + key_id.encode()


def make_codec(settings: Settings | None = None) -> EncryptionCodec:
    """The codec configured by the settings (see the module docstring for where keys come from)."""
    return EncryptionCodec(KeyRing.from_settings(settings))


def main(argv: list[str] | None = None) -> int:
    """`python -m common.codec new-key`: print a fresh base64 AES-256 key."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["new-key"]:
        print(new_key())
        return 0
    print("usage: python -m common.codec new-key", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
