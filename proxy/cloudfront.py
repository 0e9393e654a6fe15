"""Signed CloudFront URLs for download redirects (the legacy service's CLOUDFRONT_* settings).

A canned policy, signed by botocore's CloudFrontSigner with an RSA key loaded by
`cryptography`: the URL lets anyone GET exactly the resource it names until its `Expires`.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.signers import CloudFrontSigner
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PEM_MARKER = "-----BEGIN"


class CloudFrontKeyError(ValueError):
    """The private key does not load; str() says why without repeating the key."""


def load_private_key(value: str) -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key in PEM, given as the PEM text itself or as a file's path."""
    if PEM_MARKER in value:
        pem = value.encode()
    else:
        try:
            pem = Path(value).read_bytes()
        except OSError as exc:
            # Not the value itself: a mangled key pasted without its BEGIN line would land here.
            raise CloudFrontKeyError(f"is neither PEM text nor a readable file ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise CloudFrontKeyError("is an encrypted key; give it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CloudFrontKeyError("does not hold a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CloudFrontKeyError("is not an RSA key (CloudFront signs URLs with RSA only)")
    return key


class CloudFront:
    """Signs `<distribution URL>/<key>` with a canned policy."""

    def __init__(self, base_url: str, key_id: str, private_key: rsa.RSAPrivateKey) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self._private_key = private_key
        self._signer = CloudFrontSigner(key_id, self._rsa_sha1)

    def _rsa_sha1(self, message: bytes) -> bytes:
        # CloudFront verifies URL signatures as RSA PKCS#1 v1.5 over SHA-1; it accepts no other.
        return self._private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    def signed_url(self, key: str, expires_in: int) -> str:
        expires = datetime.now(UTC) + timedelta(seconds=expires_in)
        url: str = self._signer.generate_presigned_url(f"{self.base_url}/{key}", date_less_than=expires)
        return url

    def __repr__(self) -> str:
        return f"CloudFront({self.base_url!r}, key_id={self.key_id!r})"
