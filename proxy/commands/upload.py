"""`tooltool-proxy upload`: a manifest's files, uploaded as tooltool.py does on the wire (proxy/uploader.py)."""

import argparse
import asyncio
import os
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

from proxy.commands.command import CommandError, Subcommands, add_command
from proxy.uploader import (
    DEFAULT_HOST,
    DEFAULT_JOBS,
    DEFAULT_MANIFEST,
    UploadRefused,
    default_base_url,
    load_credentials,
    run_upload,
)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return number


def _upload(args: argparse.Namespace) -> int:
    if not args.message or not args.message.strip():
        raise CommandError('--message is required: the batch\'s "commit message", e.g. "Bug 123: new gcc"')
    base_url = args.url or default_base_url(os.environ)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"--url {base_url!r} is not an http(s) URL; give the server's base URL")
    credentials = load_credentials(Path(args.authentication_file) if args.authentication_file else None, os.environ)
    try:
        outcome = asyncio.run(
            run_upload(Path(args.manifest), base_url, credentials, args.message, args.region, args.jobs)
        )
    except UploadRefused as exc:
        raise CommandError(str(exc)) from None
    return outcome.exit_status


def register(subcommands: Subcommands) -> None:
    upload = add_command(
        subcommands,
        "upload",
        "upload a manifest's files (a drop-in for `tooltool.py upload`)",
        textwrap.fill(
            "Upload the files of a manifest.tt as `tooltool.py upload` does on the wire (POST /upload, a PUT per "
            "file, upload/complete until 202), so it works with this proxy and the legacy service alike. Each "
            "file (in the manifest's directory) is checked against its record's size and sha512 before anything "
            "is sent; files stream from disk, several at once. Credentials: --authentication-file (JSON Hawk "
            "credentials, or a Bearer token), else TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN, else "
            "none. A 503, a 409 from upload/complete and a dropped PUT connection are retried, a bounded number "
            "of times.",
            width=100,
        ),
        done="every file was committed (uploaded, or already stored)",
        problems="some files failed, or do not match the manifest (one line each; then nothing was sent)",
    )
    upload.add_argument(
        "-m", "--manifest", default=DEFAULT_MANIFEST, help=f"the manifest to upload (default {DEFAULT_MANIFEST})"
    )
    upload.add_argument(
        "--url",
        help=f"the server's base URL (default $TASKCLUSTER_PROXY_URL/{DEFAULT_HOST} in a task, else https://{DEFAULT_HOST})",
    )
    upload.add_argument(
        "--authentication-file", metavar="FILE", help="JSON {clientId, accessToken} for Hawk, or a Bearer token"
    )
    upload.add_argument("--message", help='the batch\'s "commit message", with a bug number (required)')
    upload.add_argument("-r", "--region", help="preferred region to upload to, e.g. us-west-2")
    upload.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=DEFAULT_JOBS,
        help=f"files checked and uploaded at once (default {DEFAULT_JOBS})",
    )
    upload.set_defaults(run=_upload)
