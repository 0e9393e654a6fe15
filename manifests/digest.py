import re

ALGORITHM = "sha512"
_DIGEST = re.compile(r"[0-9a-f]{128}")


def is_valid_digest(value: str) -> bool:
    """True for exactly 128 lower-case hex characters, the only digest form tooltool stores."""
    return _DIGEST.fullmatch(value) is not None
