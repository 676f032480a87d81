"""Where citywatch finds what it ships (the demo city, the scenarios) and where it keeps its data.

In a source checkout (``make venv`` installs it editable) both live in the repository: ``cities/``,
``scenarios/`` and ``var/``. An installed citywatch (``pip install .``, the container image) has no
repository: the demo city and the scenarios come from the package (``citywatch.shipped``) and the
data goes to ``CITYWATCH_DATA_DIR`` or, by default, the user's data directory. ``citywatch/shipped/``
holds symbolic links to ``cities/demo`` and ``scenarios``, which a wheel build copies into the package.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
_SHIPPED = {"cities/demo": "demo_city", "scenarios": "scenarios"}  # folder of the checkout: its name in shipped/


def in_checkout() -> bool:
    """Tell whether this citywatch runs from its source repository (not from an installed package)."""
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "cities" / "demo").is_dir()


def shipped(folder: str) -> Path:
    """Return a folder citywatch ships (``cities/demo`` or ``scenarios``), from the checkout or the package."""
    if in_checkout():
        return CHECKOUT / folder
    return Path(__file__).resolve().parent / "shipped" / _SHIPPED[folder]


def default_data_dir() -> Path:
    """Return where a process keeps its data by default: var/ of the checkout, else the user's data directory."""
    if in_checkout():
        return CHECKOUT / "var"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "citywatch"
