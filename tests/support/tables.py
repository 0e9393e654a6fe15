"""Table-driven test corpora kept as data in tests/support/data/, and the small template language they use.

A string in a table may hold, and `expand` replaces:
- `{NAME}` with the value the test passes for NAME (a digest, a token, a size, an error text the code defines);
- `{NAME[a:b]}` with that slice of it (a digest one character short, or cut in two);
- `{TEXT*N}` with TEXT repeated N times (TEXT holds no braces): `{a*8000}`, `{%D9%A3*128}`, `{[*100000}`.
Anything else, JSON text with its own braces included, is left as it is.
"""

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

_NAMED = re.compile(r"\{([A-Z][A-Z0-9_]*)(?:\[(\d*):(\d*)\])?\}")
_REPEATED = re.compile(r"\{([^{}]+?)\*(\d+)\}")


def load_table(name: str) -> Any:
    """The JSON document tests/support/data/<name>."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def expand(text: str, values: Mapping[str, object]) -> str:
    def named(match: re.Match[str]) -> str:
        value = str(values[match.group(1)])
        if match.group(2) is None and match.group(3) is None:
            return value
        start = int(match.group(2)) if match.group(2) else None
        end = int(match.group(3)) if match.group(3) else None
        return value[start:end]

    def repeated(match: re.Match[str]) -> str:
        return match.group(1) * int(match.group(2))

    return _REPEATED.sub(repeated, _NAMED.sub(named, text))


def expand_value(value: Any, values: Mapping[str, object]) -> Any:
    """`expand` over a JSON value's strings (keys included); a string that is one `{NAME}` of a number becomes it."""
    if isinstance(value, str):
        whole = _NAMED.fullmatch(value)
        if whole and whole.group(2) is None and isinstance(values[whole.group(1)], int):
            return values[whole.group(1)]
        return expand(value, values)
    if isinstance(value, list):
        return [expand_value(item, values) for item in value]
    if isinstance(value, dict):
        return {expand(key, values): expand_value(item, values) for key, item in value.items()}
    return value
