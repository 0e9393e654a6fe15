"""`PATCH /file/sha512/<digest>` bodies: a JSON array of operations, applied in order (PROTOCOL.md §3).

`parse_file_patch` validates the whole array before anyone acts on it, so a body that is wrong
anywhere changes nothing.
"""

from dataclasses import dataclass
from typing import Any

from manifests._fields import require_object
from manifests.errors import ValidationError
from manifests.index import Visibility, parse_visibility

MAX_OPERATIONS = 100


@dataclass(frozen=True)
class SetVisibility:
    visibility: Visibility


@dataclass(frozen=True)
class DeleteInstances:
    """Delete the stored bytes; the metadata stays, so the file can be uploaded again."""


FileOperation = SetVisibility | DeleteInstances

# The fields each op takes besides "op"; any other field is refused, so that a typo or an
# option this server does not have (say, a region to delete from) never widens an operation.
_FIELDS: dict[str, frozenset[str]] = {
    "set_visibility": frozenset({"visibility"}),
    "delete_instances": frozenset(),
}


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(name[:64]) for name in names)


def _parse_operation(position: int, value: Any) -> FileOperation:
    what = f"operations[{position}]"
    obj = require_object(value, what)
    op = obj.get("op")
    if not isinstance(op, str) or op not in _FIELDS:
        shown = f"{op[:64]!r}" if isinstance(op, str) else "missing or not a string"
        raise ValidationError(f"{what}: 'op' must be one of {_quoted(list(_FIELDS))} ({shown})")
    unexpected = sorted(set(obj) - {"op"} - _FIELDS[op])
    if unexpected:
        raise ValidationError(f"{what} ({op}): unexpected field(s) {_quoted(unexpected)}")
    if op == "delete_instances":
        return DeleteInstances()
    if "visibility" not in obj:
        raise ValidationError(f"{what} ({op}): 'visibility' is required")
    try:
        return SetVisibility(parse_visibility(obj["visibility"]))
    except ValidationError as exc:
        raise ValidationError(f"{what} ({op}): {exc}") from None


def parse_file_patch(doc: Any) -> tuple[FileOperation, ...]:
    """Validate a decoded PATCH body; raise ValidationError naming the first problem."""
    if not isinstance(doc, list):
        raise ValidationError("The PATCH body must be a JSON array of operations.")
    if len(doc) > MAX_OPERATIONS:
        raise ValidationError(f"The PATCH body may hold at most {MAX_OPERATIONS} operations.")
    return tuple(_parse_operation(position, value) for position, value in enumerate(doc))
