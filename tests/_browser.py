"""Where the browser tests find Debian's Chromium, and how they start it.

Never ``playwright install``: the machine has no network but the package registries. The
flags keep Chromium from reaching for Google's services, which a closed network refuses.
"""

from __future__ import annotations

import os
import shutil

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
