"""The emulator's RSA signing key: RS256 JWTs, their verification, and the JWKS document.

WorkOS's JWKS keys carry an X.509 certificate (`x5c`) and its SHA-256 thumbprint (`x5t#S256`),
and the official SDK's model requires both; the emulator's is self-signed by its own key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm


class SigningKey:
    """One RSA key pair; its `kid` is derived from the public key, so it is stable per key."""

    def __init__(self, private_key: rsa.RSAPrivateKey):
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self._jwk = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        self.kid = "session_key_" + _thumbprint(self._jwk)[:20]
        self.certificate = _self_signed(private_key, self.kid)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh 2048-bit key held in memory only."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load(cls, path: str | os.PathLike | None) -> SigningKey:
        """Load the PEM at path, creating it first when missing; None means a throwaway key."""
        if path is None:
            return cls.generate()
        path = Path(path)
        if not path.exists():
            _write_new_key(path, cls.generate())
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: not an RSA private key")
        return cls(key)

    def pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, claims: dict) -> str:
        """An RS256 JWT with this key's kid in the header."""
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, token: str) -> dict:
        """Claims of a token this key signed; raises jwt.InvalidTokenError otherwise."""
        # Expiry is checked by the caller against the state's clock, so tests can move time.
        return jwt.decode(
            token,
            self.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "require": ["sub", "exp"]},
        )

    def jwks(self) -> dict:
        """The public JWKS document."""
        jwk = self._jwk
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {
            "keys": [
                {
                    "kty": jwk["kty"],
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": jwk["n"],
                    "e": jwk["e"],
                    # RFC 7517: x5c is standard base64 of the DER; x5t#S256 is base64url.
                    "x5c": [base64.b64encode(der).decode()],
                    "x5t#S256": _b64url(hashlib.sha256(der).digest()),
                }
            ]
        }


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 thumbprint of an RSA JWK."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _self_signed(key: rsa.RSAPrivateKey, kid: str) -> x509.Certificate:
    """A self-signed certificate for key that depends on the key alone.

    Fixed dates and a serial taken from the kid, and PKCS#1 v1.5 signatures are deterministic,
    so a key loaded from `--signing-key` publishes the same certificate after every restart.
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "WorkOS emulator " + kid)])
    serial = int.from_bytes(hashlib.sha256(kid.encode()).digest()[:16], "big") >> 1
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial or 1)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2124, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )


def _write_new_key(path: Path, key: SigningKey) -> None:
    """Write key to path without ever exposing a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.pem())
    try:
        # link() fails if another process created the file first; then its key wins.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
