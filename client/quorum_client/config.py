"""Where `quorum login` keeps the server URL and token: a JSON file only its owner can read (0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_path() -> Path:
    """QUORUM_CONFIG, else $XDG_CONFIG_HOME/quorum/config.json, else ~/.config/quorum/config.json."""
    if given := os.environ.get("QUORUM_CONFIG"):
        return Path(given)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "quorum" / "config.json"


def load_config() -> dict[str, str]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def save_config(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created with 0600 from the start (never readable by others, not even for a moment), and set again in case
    # the file was there before with wider permissions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump({"url": url, "token": token}, out)
        out.write("\n")
    return path
