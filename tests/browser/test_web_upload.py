"""Uploading from the browser (issue 10 §7), and the in-browser SHA-512 against hashlib.

The page hashes each file in a worker while reading it in pieces, POSTs the batch, PUTs each file
to its put_url (the proxy's own on the local store, a signed moto URL on S3), completes, and
shows the manifest.tt; the files then come back through the API byte for byte."""

import hashlib
import json
import os
import random
import shlex
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Server, open_page
from tests.browser.test_web_pages import auth_file, sign_in_with_file, unique
from tests.support import tooltool_client
from tests.support.credentials import UPLOADER

MiB = 1024 * 1024


def test_upload_two_files_from_the_browser_and_fetch_them_back(page: Page, server: Server, tmp_path: Path) -> None:
    tag = unique("browser-upload")
    # One file spans two reading pieces (8 MiB each) and ends inside the second.
    files = {f"{tag}-toolchain.tar.xz": os.urandom(9 * MiB + 12345), f"{tag}-notes.txt": b"notes\n" * 1000}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    credentials = auth_file(tmp_path, UPLOADER)
    puts: list[str] = []
    page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)
    sign_in_with_file(page, server, credentials)
    page.get_by_role("link", name="Upload").click()
    expect(page.locator("h1")).to_have_text("Upload files")
    page.get_by_label("Files to upload").set_input_files([str(tmp_path / name) for name in files])
    page.get_by_label("Visibility").select_option("internal")
    page.get_by_label("Message").fill(f"Bug 7654321: {tag} from the browser")
    page.get_by_role("button", name="Hash and upload").click()
    expect(page.locator("#upload-done")).to_be_visible(timeout=90_000)

    for bar in page.locator("#upload-progress progress").all():  # every bar ran to its end
        assert bar.evaluate("(p) => p.value === p.max")
    expect(page.locator("#upload-progress .upload-status")).to_have_text(["done", "done"])
    # Straight to the put_urls: the proxy's own on the local store, the bucket's (moto) on S3.
    put_origins = {urlsplit(url)._replace(path="", query="").geturl() for url in puts}
    assert len(puts) == 2
    assert put_origins == {server.url if server.kind == "local" else server.process.env["TOOLTOOL_S3_ENDPOINT_URL"]}
    records = json.loads(page.locator("#upload-manifest").text_content() or "")
    assert [r["filename"] for r in records] == list(files)
    for record in records:
        data = files[record["filename"]]
        assert record == {
            "filename": record["filename"],
            "size": len(data),
            "algorithm": "sha512",
            "digest": hashlib.sha512(data).hexdigest(),
            "visibility": "internal",
        }
        fetched = tmp_path / f"fetched-{record['filename']}"
        tooltool_client.fetch(server.url + "/", record, fetched, auth_file=credentials)
        assert fetched.read_bytes() == data

    # Uploading the same files again: already stored, nothing is sent.
    page.get_by_role("button", name="Hash and upload").click()
    expect(page.locator("#upload-progress .upload-status")).to_have_text(["already stored", "already stored"])


def refuse_puts(page: Page, how: str) -> None:
    def handle(route: Route) -> None:
        if route.request.method != "PUT":
            route.continue_()
        elif how == "abort":
            route.abort("accessdenied")
        else:
            body = "<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            route.fulfill(status=403, body=body, content_type="application/xml")

    page.route("**/*", handle)


def start_upload(page: Page, server: Server, tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(os.urandom(2048))
    sign_in_with_file(page, server, auth_file(tmp_path, UPLOADER))
    open_page(page, f"{server.url}/?view=upload")
    page.get_by_label("Files to upload").set_input_files(str(tmp_path / name))
    page.get_by_label("Message").fill("Bug 1: refused")
    page.get_by_role("button", name="Hash and upload").click()


def test_a_put_the_browser_cannot_send_is_explained(page: Page, server: Server, tmp_path: Path) -> None:
    name = f"{unique('refused')}.bin"
    refuse_puts(page, "abort")
    start_upload(page, server, tmp_path, name)
    alert = page.get_by_role("alert")
    if server.kind == "s3":  # a cross-origin PUT to the bucket: the CORS rule is what to check
        expect(alert).to_contain_text(f"The browser could not send {name} to the object store at http://127.0.0.1:")
        expect(alert).to_contain_text(f"a CORS rule allowing PUT from {server.url} with the Content-Type header")
    else:
        expect(alert).to_have_text(f"The upload of {name} was interrupted: the connection to the server failed.")
    expect(page.locator("#upload-progress .upload-status")).to_have_text(["not uploaded"])
    expect(page.get_by_role("button", name="Hash and upload")).to_be_enabled()


def test_a_put_the_store_refuses_says_why(page: Page, server: Server, tmp_path: Path) -> None:
    name = f"{unique('denied')}.bin"
    refuse_puts(page, "fulfill")
    start_upload(page, server, tmp_path, name)
    expect(page.get_by_role("alert")).to_have_text(
        f"The upload of {name} was refused (HTTP 403: AccessDenied: Request has expired)."
    )


PIECE_SIZES_SMALL = (1, 7, 128, 1000, 4096)
MAX_SMALL_PIECE_READS = 300  # each piece is a Blob read (about a millisecond): keep small-piece runs short


def test_in_browser_sha512_matches_hashlib(page: Page, local_server: Server, tmp_path: Path) -> None:
    """The page's sha512File (reading Blob pieces, @noble/hashes) on random inputs of many sizes,
    around SHA-512's 128-byte blocks and around the reading pieces, at the default piece size
    (8 MiB) and at small ones."""
    open_page(page, local_server.url + "/")
    piece = page.evaluate("async () => (await import('/ui/js/hash.js')).PIECE_BYTES")
    assert piece == 8 * MiB
    generator = random.Random(10)  # noqa: S311 (test data, reproducible)
    sizes = [0, 1, 111, 112, 127, 128, 129, 255, 256, 257, 1000, 4095, 4096, 4097, 65537]
    sizes += [piece - 1, piece, piece + 1, 2 * piece + 129]
    sizes += [generator.randrange(1, 200_000) for _ in range(10)]
    paths = []
    for number, size in enumerate(sizes):
        path = tmp_path / f"input-{number}.bin"
        path.write_bytes(generator.randbytes(size))
        paths.append(path)
    page.evaluate(
        "() => { const input = document.createElement('input'); input.type = 'file'; input.multiple = true;"
        " input.id = 'hash-inputs'; document.body.append(input); }"
    )
    page.set_input_files("#hash-inputs", [str(p) for p in paths])
    digests = page.evaluate(
        """async ([pieceSizes, MAX_READS]) => {
            const { sha512File } = await import('/ui/js/hash.js');
            const files = [...document.getElementById('hash-inputs').files];
            const results = [];
            for (const file of files) {
              const progress = [];
              const digest = await sha512File(file, { onProgress: (done) => progress.push(done) });
              // Small pieces too, up to a few thousand reads per file.
              const usable = pieceSizes.filter((pieceBytes) => file.size / pieceBytes <= MAX_READS);
              const small = await Promise.all(usable.map((pieceBytes) => sha512File(file, { pieceBytes })));
              results.push({ name: file.name, digest, small, progress });
            }
            return results;
        }""",
        [list(PIECE_SIZES_SMALL), MAX_SMALL_PIECE_READS],
    )
    assert len(digests) == len(paths)
    for path, result in zip(paths, digests, strict=True):
        data = path.read_bytes()
        expected = hashlib.sha512(data).hexdigest()
        assert result["name"] == path.name
        assert result["digest"] == expected, f"{len(data)} bytes"
        usable = [p for p in PIECE_SIZES_SMALL if len(data) / p <= MAX_SMALL_PIECE_READS]
        assert result["small"] == [expected] * len(usable), f"{len(data)} bytes in pieces of {usable}"
        pieces = -(-len(data) // piece)
        assert result["progress"] == [min((i + 1) * piece, len(data)) for i in range(pieces)]


def test_curl_command_quotes_any_filename_for_the_shell() -> None:
    """The quoting the file page uses (format.js shellQuote) round-trips through a shell parser;
    checked in the hostile-corpus test for real names, here for the rule itself."""
    assert shlex.split("curl -L -o 'it'\\''s here' x")[3] == "it's here"
