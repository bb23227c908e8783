"""Certificates for tests, made with the openssl command: certificate authorities, server
certificates for 127.0.0.1 that they sign, and self-signed keys that sign tokens.

Keys are RSA 2048 (what a token's RS256 needs); certificates are valid for ten years from
now and have random serial numbers.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "openssl"
DAYS = "3650"


def _openssl(*args: str, input: bytes | None = None) -> bytes:
    result = subprocess.run([OPENSSL, *args], input=input, capture_output=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr.decode()}"
    return result.stdout


def _key(path: Path) -> Path:
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
    path.chmod(0o600)
    return path


def _extfile(path: Path, lines: list[str]) -> Path:
    path.write_text("[ext]\n" + "\n".join(lines) + "\n")
    return path


@dataclass
class KeyPair:
    """A private key (PEM) and its certificate (PEM)."""

    key: Path
    cert: Path

    def der(self) -> bytes:
        """The certificate in DER."""
        return _openssl("x509", "-in", str(self.cert), "-outform", "DER")

    def der_b64(self) -> str:
        """The certificate as a JWS ``x5c`` entry: base64 (not URL-safe) of its DER."""
        return base64.b64encode(self.der()).decode()

    def sign_sha256(self, data: bytes) -> bytes:
        """An RSASSA-PKCS1-v1_5 SHA-256 signature of ``data`` (JWS ``RS256``)."""
        return _openssl("dgst", "-sha256", "-sign", str(self.key), input=data)


def certificate_authority(directory: Path, name: str) -> KeyPair:
    """A self-signed CA, ``directory/NAME.key`` and ``NAME.crt``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _key(directory / f"{name}.key")
    cert = directory / f"{name}.crt"
    ext = _extfile(
        directory / f"{name}.ext",
        [
            "basicConstraints = critical, CA:TRUE",
            "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
            "subjectKeyIdentifier = hash",
        ],
    )
    _self_signed(key, cert, f"/O=skiff tests/CN={name}", ext)
    return KeyPair(key, cert)


def _self_signed(key: Path, cert: Path, subject: str, ext: Path) -> None:
    csr = cert.with_suffix(".csr")
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    _openssl(
        "x509", "-req", "-in", str(csr), "-signkey", str(key), "-out", str(cert),
        "-days", DAYS, "-sha256", "-extfile", str(ext), "-extensions", "ext",
        "-set_serial", _serial(),
    )  # fmt: skip
    csr.unlink()


def _serial() -> str:
    return str(secrets.randbits(63) | 1)


def server_certificate(
    ca: KeyPair,
    directory: Path,
    name: str = "server",
    ip: str = "127.0.0.1",
    usage: str = "serverAuth",
) -> KeyPair:
    """A TLS server certificate for ``ip`` (an IP subject alternative name, and
    ``localhost``) signed by ``ca``: ``directory/NAME.key`` and ``NAME.crt``; with
    ``usage="clientAuth"``, a client's certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _key(directory / f"{name}.key")
    cert = directory / f"{name}.crt"
    csr = directory / f"{name}.csr"
    ext = _extfile(
        directory / f"{name}.ext",
        [
            "basicConstraints = critical, CA:FALSE",
            "keyUsage = critical, digitalSignature, keyEncipherment",
            f"extendedKeyUsage = {usage}",
            f"subjectAltName = IP:{ip}, DNS:localhost",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ],
    )
    _openssl("req", "-new", "-key", str(key), "-subj", f"/O=skiff tests/CN={ip}", "-out", str(csr))
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-set_serial", _serial(), "-out", str(cert), "-days", DAYS, "-sha256",
        "-extfile", str(ext), "-extensions", "ext",
    )  # fmt: skip
    csr.unlink()
    return KeyPair(key, cert)


def signing_key(directory: Path, name: str = "token-signer") -> KeyPair:
    """A key and its self-signed certificate that sign tokens; a registry trusts the
    tokens when the certificate is in its ``auth.token.rootcertbundle``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _key(directory / f"{name}.key")
    cert = directory / f"{name}.crt"
    ext = _extfile(
        directory / f"{name}.ext",
        [
            "basicConstraints = critical, CA:FALSE",
            "keyUsage = critical, digitalSignature",
            "subjectKeyIdentifier = hash",
        ],
    )
    _self_signed(key, cert, f"/O=skiff tests/CN={name}", ext)
    return KeyPair(key, cert)
