"""Small typed accessors for validating decoded JSON objects."""

from typing import Any

from manifests.errors import ValidationError

# JSON integers bigger than this are not sizes any store holds; refusing them keeps
# arithmetic and headers sane.
MAX_SIZE = 2**53


def require_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a JSON object")
    return value


def get_str(obj: dict[str, Any], key: str, what: str, *, max_length: int = 1024) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValidationError(f"{what}: '{key}' must be a string")
    if len(value) > max_length:
        raise ValidationError(f"{what}: '{key}' is longer than {max_length} characters")
    return value


def get_size(obj: dict[str, Any], key: str, what: str) -> int:
    value = obj.get(key)
    # bool is a subclass of int; a size of `true` is a client bug, not 1 byte.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{what}: '{key}' must be an integer")
    if value < 0 or value > MAX_SIZE:
        raise ValidationError(f"{what}: '{key}' is out of range")
    return value


def get_str_list(obj: dict[str, Any], key: str, what: str) -> list[str]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(f"{what}: '{key}' must be a list of strings")
    return list(value)
