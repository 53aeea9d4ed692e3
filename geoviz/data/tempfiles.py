"""The server's temporary files: one private folder per server user, swept of old entries.

Everything the dashboard writes for a browser session (downloads, extracted zips, Gradio's uploads
when the server sets ``GRADIO_TEMP_DIR``) lives under ``temp_root()``: mode 0700, owned by the
server user, inside the system temp dir (so Gradio accepts the files it is handed). Entries older
than ``max_age_s`` are removed whenever a new one is made (at most once a minute), so a server that
runs for weeks does not fill the disk with abandoned sessions.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["temp_root", "new_temp_dir", "clean_old", "MAX_AGE_S"]

MAX_AGE_S = float(os.environ.get("GEOVIZ_TEMP_MAX_AGE_H", "24")) * 3600
_SWEEP_EVERY_S = 60.0
_last_sweep = 0.0
_lock = threading.Lock()


def temp_root() -> Path:
    """``$GEOVIZ_TEMP_DIR`` or ``<system temp>/geoviz-<uid>``, created 0700; refused if another user
    owns it (someone could read or plant files there)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    root = Path(os.environ.get("GEOVIZ_TEMP_DIR") or Path(tempfile.gettempdir()) / f"geoviz-{uid}")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = root.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RuntimeError(f"{root} is not a plain folder; remove it or set GEOVIZ_TEMP_DIR")
    if hasattr(os, "getuid") and st.st_uid != uid:
        raise RuntimeError(f"{root} belongs to another user; remove it or set GEOVIZ_TEMP_DIR")
    if stat.S_IMODE(st.st_mode) & 0o077:
        root.chmod(0o700)
    return root


def clean_old(max_age_s: float = MAX_AGE_S, root: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the entries of ``root`` (default ``temp_root()``) not modified for ``max_age_s``.
    Returns what was removed."""
    root = root or temp_root()
    now = time.time() if now is None else now
    removed = []
    for entry in root.iterdir():
        try:
            newest = entry.lstat().st_mtime
            if entry.is_dir() and not entry.is_symlink():
                # a folder in use has recent files even when the folder's own mtime is old
                newest = max([newest, *(p.lstat().st_mtime for p in entry.rglob("*"))])
            if now - newest > max_age_s:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
        except FileNotFoundError:  # removed meanwhile by another sweep or its session's expiry
            continue
    return removed


def new_temp_dir(prefix: str) -> Path:
    """A new private folder under ``temp_root()`` (sweeping old ones first, at most once a minute)."""
    global _last_sweep
    root = temp_root()
    with _lock:
        if time.monotonic() - _last_sweep > _SWEEP_EVERY_S:
            _last_sweep = time.monotonic()
            clean_old(root=root)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
