"""Start-up checks for `serve` that turn a deployment mistake into one line saying the fix (README "Container").

Each raises ConfigError (exit status 2) before the server binds its port or writes to the store.
"""

import errno
import ipaddress
import os
import tempfile
from pathlib import Path

from proxy.config import Config, ConfigError

# Docker creates /.dockerenv in every container, Podman /run/.containerenv.
CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))


def in_container() -> bool:
    return any(marker.exists() for marker in CONTAINER_MARKERS)


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""  # a host name is one address; "" means every interface to aiohttp


def refuse_unreachable_put_urls(config: Config, host: str, port: int) -> None:
    """Listening on every interface, the listen address is no URL a client can use; uploads need one."""
    if config.public_url is None and config.uploads_through_proxy and _is_wildcard(host):
        fix = (
            "docker run -e TOOLTOOL_PUBLIC_URL=http://HOST:PORT … (the host's name and published port)"
            if in_container()
            else f"TOOLTOOL_PUBLIC_URL=http://HOST:{port}, or listen on one address with --host"
        )
        raise ConfigError(
            f"listening on {host or 'every interface'} needs TOOLTOOL_PUBLIC_URL, the URL clients reach this server "
            f"at: without it upload put_urls point at http://{host}:{port}/, which no client can use; set it: {fix}"
        )


def check_store_writable(config: Config) -> None:
    """A local store directory the running user cannot write fails now, not at the first upload."""
    if not config.store.is_local:
        return
    root = Path(config.store.path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        # The local store's own temporary-file prefix: a leftover probe is never taken for an object.
        with tempfile.TemporaryFile(dir=root, prefix=".tmp-write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(_not_writable(root, exc)) from None


def _not_writable(root: Path, exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return (
            f"the store directory {root} is on a read-only file system; mount a writable volume there "
            f"(docker run -v tooltool-data:{root} …) or set TOOLTOOL_STORE to a writable directory"
        )
    if exc.errno not in (errno.EACCES, errno.EPERM):
        return f"the store directory {root} cannot be written ({exc.strerror}); set TOOLTOOL_STORE to a directory"
    uid, gid = os.getuid(), os.getgid()
    where = f"the store directory {root} is not writable by user {uid}:{gid}{_owner(root)}"
    if in_container():
        return (
            f"{where}; create the host folder yourself and run as its owner (mkdir FOLDER, then "
            f'docker run --user "$(id -u):$(id -g)" -v "$PWD/FOLDER:{root}" …; Docker creates a missing one as '
            f"root), or give it to this container's user: sudo chown -R {uid}:{gid} FOLDER"
        )
    return f"{where}; give it to this user (sudo chown -R {uid}:{gid} {root}) or serve as its owner"


def _owner(path: Path) -> str:
    while not path.exists() and path != path.parent:
        path = path.parent  # mkdir failed: the first existing ancestor is the one to fix
    try:
        stat = path.stat()
    except OSError:
        return ""
    return f" ({path} belongs to {stat.st_uid}:{stat.st_gid}, mode {stat.st_mode & 0o777:o})"


def admin_auth_for_clients(auth_file: Path) -> tuple[str, str]:
    """(a note after the auth file's path, the path a tooltool.py user passes) for the start-up banner.

    In a container the printed path exists only inside it; the note is the command that copies it out.
    """
    if not in_container():
        return "", str(auth_file)
    note = f" (inside the container; copy it out: docker exec CONTAINER cat {auth_file} > {auth_file.name})"
    return note, auth_file.name
