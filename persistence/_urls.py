"""Database URLs: read by libpq's own parser, refused with a message that never quotes
the password, masked for display, and every string that may be their password found,
for `errors.scrub`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

from psycopg import conninfo as _conninfo
from psycopg import errors as _pg

from .errors import ConfigurationError, scrub

__all__ = ["mask_url", "parse_url", "secrets_of", "server_of", "split_urls", "url_from_env"]


def split_urls(text: str) -> tuple[str, ...]:
    """The URLs of a comma-separated list. A comma splits only before the next URL's
    scheme, so a multi-host URL (``postgresql://a,b/db``) stays whole, or before
    another comma or the end: an empty item (``"$R1,$R2"`` with R2 unset) is no
    server, not a comma glued onto the database name.

    >>> split_urls("postgresql://r1/app, postgresql://r2a,r2b/app")
    ('postgresql://r1/app', 'postgresql://r2a,r2b/app')
    >>> split_urls("postgresql://r1/app,, postgresql://r2/app,")
    ('postgresql://r1/app', 'postgresql://r2/app')
    >>> split_urls("postgresql://r1/app,postgresq://r2/app")
    ('postgresql://r1/app', 'postgresq://r2/app')
    """
    # Before any scheme, so that a typo in one (``postgresq://``) is refused as that,
    # not glued onto the URL before it.
    parts = re.split(rf",\s*(?={_SCHEME.pattern}|,|$)", text.strip())
    return tuple(part.strip() for part in parts if part.strip())


#: A URL's scheme (RFC 3986): libpq reads a string as a URL only after its own two.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SCHEMES = ("postgresql://", "postgres://")


def mask_url(url: str) -> str:
    """Render a connection URL or key=value string as a URL with the password hidden.

    >>> mask_url("postgresql://app:s3cret@db.example.com:5432/shop?sslmode=require")
    'postgresql://app:***@db.example.com:5432/shop?sslmode=require'
    """
    try:
        params = parse_url(url)
    except ConfigurationError:
        return "(malformed database URL)"
    return _masked(url, params)


def _masked(url: str, params: Mapping[str, str]) -> str:
    user = quote(params.get("user", ""), safe="")
    auth = f"{user}:***@" if params.get("password") else (f"{user}@" if user else "")
    host = params.get("host", "")
    host = f"[{host}]" if ":" in host else host
    port = f":{params['port']}" if params.get("port") else ""
    query = "&".join(
        f"{k}={quote(v, safe='')}"
        for k, v in params.items()
        if k not in ("user", "password", "host", "port", "dbname")
    )
    masked = f"postgresql://{auth}{host}{port}/{params.get('dbname', '')}" + (
        f"?{query}" if query else ""
    )
    # Whatever libpq did not read as the password (text we only guess is part of it)
    # is hidden too.
    return scrub(masked, tuple(s for s in secrets_of(url) if s != params.get("password")))


#: Said instead of quoting the URL: what libpq choked on may be part of the password.
_ENCODE_HINT = (
    "percent-encode '@', '/', ':', '?' and spaces in the user name and password"
    " (%40, %2F, %3A, %3F, %20)"
)


def parse_url(url: str, variable: str = "DATABASE_URL", *, replica: bool = False) -> dict[str, str]:
    """Parse with libpq's own parser; its complaint is reported without what it quotes.
    `replica`: the URL of a replica, which must name its host (without one, libpq
    connects to the local socket: most likely the primary itself).

    Raises:
        ConfigurationError: malformed; the message never contains any part of the URL
            that could be the password.
    """
    scheme = _SCHEME.match(url.strip())
    if scheme and scheme.group(0) not in _SCHEMES:
        # libpq would read the whole URL as key=value pairs and choke on its first word.
        shown = scrub(scheme.group(0), secrets_of(url))
        raise ConfigurationError(
            f"malformed {variable}: it starts with {shown!r}, not postgresql:// or"
            " postgres://; correct the scheme"
        )
    try:
        params: dict[str, str] = dict(_conninfo.conninfo_to_dict(url))  # type: ignore[arg-type]
    except (_pg.ProgrammingError, ValueError) as ex:
        # libpq quotes the text it choked on, which may be any part of the password:
        # keep only its words, then scrub what we can guess, to be sure.
        reason = re.sub(r'"[^"]*"', _quoted, _first_line(str(ex)))
        reason = scrub(reason, secrets_of(url))
        raise ConfigurationError(f"malformed {variable}: {reason}") from None
    # libpq checks the port only when connecting; check it now (a list for multi-host).
    # The port is not quoted: with an unencoded "/" in the password, it is the password.
    port = params.get("port", "")
    # An empty entry is a host without its own port (`h1,h2:5433`): the default.
    if port and not all(p.strip().isdigit() for p in port.split(",") if p.strip()):
        raise ConfigurationError(f"malformed {variable}: the port is not a number; {_ENCODE_HINT}")
    if "@" in params.get("host", "") or _stray_at(url):
        # libpq splits at the first "@": the rest of the password became the host (or,
        # after an unencoded "/", the database name), to be printed by every error.
        raise ConfigurationError(
            f"malformed {variable}: an '@' after the user name and password; {_ENCODE_HINT}"
        )
    # libpq refuses a port outside 1-65535 only when connecting, as "invalid port number".
    if any(p.strip() and not 1 <= int(p) <= 65535 for p in port.split(",")):
        raise ConfigurationError(
            f"malformed {_which(variable, url, params)}: the port must be a number from 1 to 65535"
        )
    if replica and not params.get("host") and not params.get("hostaddr"):
        raise ConfigurationError(
            f"malformed {_which(variable, url, params)}: a replica's URL must name its"
            " host (postgresql://user:password@HOST:port/database)"
        )
    return params


def _which(variable: str, url: str, params: Mapping[str, str]) -> str:
    """The variable with the URL (masked) it holds: one of a list is told apart."""
    shown = _masked(url, params)
    return f"{variable[:-1]}, {shown})" if variable.endswith(")") else f"{variable} ({shown})"


def _quoted(match: re.Match[str]) -> str:
    # A lone punctuation mark is libpq's own ('missing "=" after'); any other quoted
    # text came from the input.
    text = match.group(0)
    return text if len(text) == 3 and not text[1].isalnum() else '"..."'


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _stray_at(url: str) -> bool:
    """Whether a URL has an "@" in its path (before any "?"), where libpq does not look
    for credentials: ``postgresql://u:pa/ss@host/db`` reads as host "u", port "pa"."""
    if "://" not in url:
        return False
    rest = url.split("://", 1)[1].split("?", 1)[0]
    return "@" in rest.partition("/")[2]


def secrets_of(url: str | None) -> tuple[str, ...]:
    """Every string in `url` that may be its password or part of it, longest first.

    libpq's reading (when it parses), and by hand what a user may have meant: in a URL,
    everything between the first ":" of the user info and the last "@"; in a key=value
    string, everything after ``password=`` up to the next ``key=``; each also
    percent-decoded. Guessing too much only hides more of an error message.
    """
    if not url:
        return ()
    found: set[str] = set()
    with contextlib.suppress(_pg.ProgrammingError, ValueError):  # guessed below
        found.add(str(_conninfo.conninfo_to_dict(url).get("password") or ""))
    if "://" in url:
        userinfo = url.split("://", 1)[1].rpartition("@")[0]
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    for match in _PASSWORD_KEY.finditer(url):
        value = url[match.end() :]
        if value.startswith("'"):
            # Up to the closing quote, or all the rest when it is unterminated.
            found.add(re.split(r"(?<!\\)'", value[1:], maxsplit=1)[0])
        found.add(re.split(r"&|\s+\w+\s*=", value, maxsplit=1)[0])
        found.add(value.split()[0] if value.split() else "")
    found |= {unquote(s) for s in found}
    found |= {s.replace("\\'", "'").replace("\\\\", "\\") for s in found}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


_PASSWORD_KEY = re.compile(r"(?:^|[\s?&])password\s*=\s*", re.IGNORECASE)


def url_from_env(env: Mapping[str, str]) -> str | None:
    url = env.get("DATABASE_URL", "").strip()
    if url:
        return url
    if not env.get("DB_HOST") and not env.get("DB_NAME"):
        return None
    parts = {
        "host": env.get("DB_HOST", "localhost"),
        "port": env.get("DB_PORT", "5432"),
        "dbname": env.get("DB_NAME", "postgres"),
        "user": env.get("DB_USER", ""),
        "password": env.get("DB_PASSWORD", ""),
    }
    if not parts["port"].isdigit():
        raise ConfigurationError(f"DB_PORT must be a port number, not {parts['port']!r}")
    return _conninfo.make_conninfo("", **{k: v for k, v in parts.items() if v})


def server_of(url: str) -> tuple[str, str]:
    """The host and port a URL connects to (libpq's defaults filled in), to tell
    whether two URLs lead to the same server or pooler."""
    params = parse_url(url)
    return (params.get("host") or "localhost", params.get("port") or "5432")
