"""Where the files that ship with the package live: the bundled specs, mappings and schemas.

In a checkout (or an editable install) they are the repository's top-level `specs/`,
`mappings/` and `schemas/`, next to the `runner` package. A wheel installs the same files as
data files under `<prefix>/share/sync-runner/` (see `[tool.setuptools.data-files]` in
pyproject.toml); `<prefix>` is the environment's (`sys.prefix`) or, for `pip install
--user`, the user base.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

BUNDLED = ("specs", "mappings", "schemas")


def bundled_dir(name: str) -> Path:
    """The bundled folder `name` (one of BUNDLED). When none exists, the place a wheel
    install would have put it, so that an error can name it."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled folder {name!r} (one of {BUNDLED})")
    root = Path(__file__).resolve().parents[1]
    # a checkout (or an editable install of one); in a wheel install `root` is site-packages,
    # where a folder of another package could bear the same name
    candidates = [root / name] if (root / "pyproject.toml").is_file() else []
    installed = Path(sys.prefix) / "share" / "sync-runner" / name
    candidates.append(installed)
    user_base = getattr(site, "USER_BASE", None)
    if user_base:
        candidates.append(Path(user_base) / "share" / "sync-runner" / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return installed
