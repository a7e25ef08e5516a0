"""Where the shared evaluation data lives: $KHULASA_EVAL_DIR, else `shared/eval` next to the repository."""

from __future__ import annotations

import os
from pathlib import Path


def eval_dir() -> Path | None:
    """The eval folder, or None when it is absent."""
    override = os.environ.get("KHULASA_EVAL_DIR")
    path = Path(override) if override else Path(__file__).resolve().parents[1].parent / "shared" / "eval"
    return path if path.is_dir() else None
