"""Regenerate the README's screenshots of the web page: `python -m tests.browser.screenshots`.

Starts `python -m proxy serve` on a temporary local store, uploads a few toolchains as
tooltool.py would, and photographs the search, file and upload pages in the same Chromium the
browser tests drive (Debian's chromium, installed by install-chromium.sh when missing).
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.harness import ChromiumMissing, launch_chromium, upload_as_tooltool
from tests.support.credentials import ADMIN, write_clients_file
from tests.support.serve import ServeProcess

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
KiB = 1024
UPLOADS = [
    ("Bug 1890123: clang 18.1.8 for linux64", "public", {"clang-18.1.8-linux64.tar.zst": 310 * KiB}),
    ("Bug 1890123: clang 18.1.8 for macOS", "public", {"clang-18.1.8-macosx64.tar.zst": 290 * KiB}),
    ("Bug 1901234: rust 1.79.0 toolchains", "public", {"rust-1.79.0-linux64.tar.zst": 520 * KiB}),
    ("Bug 1912345: macOS 14.4 SDK (licence: internal only)", "internal", {"MacOSX14.4.sdk.tar.zst": 700 * KiB}),
]


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/?view=sign-in")
    page.wait_for_selector("html[data-ready=true]")
    page.get_by_label("or paste its contents").fill(
        json.dumps({"clientId": ADMIN.client_id, "accessToken": ADMIN.access_token})
    )
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_be_visible()


def photograph(output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tooltool-screenshots-") as scratch:
        directory = Path(scratch)
        clients = write_clients_file(directory / "clients.json")
        server = ServeProcess(
            {"TOOLTOOL_STORE": f"file://{directory / 'data'}", "TOOLTOOL_CLIENTS_FILE": str(clients)},
            directory / "serve.log",
        ).start()
        try:
            digests: dict[str, str] = {}
            for message, visibility, files in UPLOADS:
                contents = {name: os.urandom(size) for name, size in files.items()}
                batch = upload_as_tooltool(
                    server.url, contents, message, visibility=visibility, hawk=(ADMIN.client_id, ADMIN.access_token)
                )
                digests |= {name: info["digest"] for name, info in batch["files"].items()}
            upload_dir = directory / "to-upload"
            upload_dir.mkdir()
            for name, size in (
                ("gcc-14.2.0-linux64.tar.xz", 9 * 1024 * KiB),
                ("binutils-2.43-linux64.tar.xz", 3 * 1024 * KiB),
            ):
                (upload_dir / name).write_bytes(os.urandom(size))

            shots = []
            with sync_playwright() as driver:
                browser = launch_chromium(driver)
                page = browser.new_page(viewport={"width": 1200, "height": 760}, device_scale_factor=1)
                sign_in(page, server.url)

                page.goto(f"{server.url}/?q=clang")
                expect(page.locator("#file-results tbody tr")).to_have_count(2)
                page.locator("#batch-results button.toggle").first.click()
                shots.append(output / "search.png")
                page.screenshot(path=shots[-1], full_page=True)

                page.goto(f"{server.url}/?file={digests['clang-18.1.8-linux64.tar.zst']}")
                expect(page.locator("#file-facts")).to_be_visible()
                shots.append(output / "file.png")
                page.screenshot(path=shots[-1], full_page=True)

                page.goto(f"{server.url}/?view=upload")
                page.get_by_label("Files to upload").set_input_files(sorted(upload_dir.iterdir()))
                page.get_by_label("Message").fill("Bug 1923456: gcc 14.2.0 and binutils 2.43 for linux64")
                page.get_by_role("button", name="Hash and upload").click()
                expect(page.locator("#upload-done")).to_be_visible(timeout=120_000)
                shots.append(output / "upload.png")
                page.screenshot(path=shots[-1], full_page=True)
                browser.close()
            return shots
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.browser.screenshots",
        description="Regenerate the README's screenshots of the web page (search, file, upload).",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"directory (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    try:
        shots = photograph(args.output)
    except ChromiumMissing as exc:
        print(f"screenshots: error: {exc}", file=sys.stderr)
        return 2
    for shot in shots:
        print(f"wrote {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
