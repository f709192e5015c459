"""Job definitions from YAML or JSON files: the same fields as POST /api/jobs/ takes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import ValidationError

# The server takes request bodies up to 10 MiB; a definition is a few kilobytes.
MAX_DEFINITION_BYTES = 10 * 1024 * 1024


def load_definition(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a job definition. ``.json`` files are JSON; anything else is YAML (of which JSON is a part).
    A file that cannot be read raises ValidationError naming the file and line."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read the job definition ({exc.strerror})", file=str(path)) from None
    if size > MAX_DEFINITION_BYTES:
        raise ValidationError(f"{path}: the job definition is larger than 10 MiB", file=str(path))
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"{path} line {exc.lineno}: not valid JSON ({exc.msg})", file=str(path), line=exc.lineno
            ) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
            problem = exc.problem or "not valid YAML"
            where = f"{path} line {line}" if line else str(path)
            raise ValidationError(f"{where}: not valid YAML ({problem})", file=str(path), line=line) from None
        except yaml.YAMLError as exc:
            raise ValidationError(f"{path}: not valid YAML ({exc})", file=str(path)) from None
    if not isinstance(data, dict):
        raise ValidationError(
            f"{path}: a job definition is a mapping of settings (name, question_type, ...), not {type(data).__name__}",
            file=str(path),
        )
    return data
