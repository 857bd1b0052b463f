"""Reading a rule file of patterns/: one place for the checks every JSON rule file gets (no spaCy here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import RuleError


def read_json_object(path: Path) -> dict[str, Any]:
    """A rule file's JSON object; a missing file, bad encoding or bad JSON names the file and the place."""
    if not path.is_file():
        raise RuleError(f"{path}: rule file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise RuleError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise RuleError(f"{path}: expected a JSON object")
    return data
