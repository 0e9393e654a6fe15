"""The web page in Chromium against a real `python -m proxy serve`, on the local store and on S3
(moto): search, a file's and a batch's page, sign-in, what each caller sees, managing files."""

import json
import os
import secrets
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, open_page
from tests.browser.harness import upload_as_tooltool
from tests.conftest import ADMIN, Creds


def unique(prefix: str) -> str:
    """A name no other test on the shared server uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


def hawk(creds: Creds) -> tuple[str, str]:
    return creds.client_id, creds.access_token


def auth_file(tmp_path: Path, creds: Creds) -> Path:
    path = tmp_path / f"{creds.client_id}-auth.json"
    path.write_text(json.dumps({"clientId": creds.client_id, "accessToken": creds.access_token}))
    return path


def sign_in_with_file(page: Page, server: Server, path: Path) -> None:
    open_page(page, f"{server.url}/?view=sign-in")
    page.get_by_label("Authentication file").set_input_files(str(path))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_be_visible()


def test_anonymous_search_and_file_page(page: Page, server: Server) -> None:
    tag = unique("anon")
    data = os.urandom(3000)
    batch = upload_as_tooltool(
        server.url, {f"{tag}-gcc.tar.xz": data}, f"Bug 1234567: {tag} toolchain", hawk=hawk(ADMIN)
    )
    digest = batch["files"][f"{tag}-gcc.tar.xz"]["digest"]

    open_page(page, server.url + "/")
    expect(page.locator("#signed-in-as")).to_have_count(0)
    page.get_by_label("Search files and uploads").fill(tag)
    page.get_by_label("Search files and uploads").press("Enter")
    results = page.locator("#file-results tbody tr")
    expect(results).to_have_count(1)
    row = results.first
    expect(row).to_contain_text(f"{tag}-gcc.tar.xz")
    expect(row).to_contain_text("2.93 KiB")
    expect(row).to_contain_text("public")
    assert row.get_by_role("link", name="Download").get_attribute("href") == f"/sha512/{digest}"
    assert page.url == f"{server.url}/?q={tag}"

    batch_item = page.locator("#batch-results li.batch")
    expect(batch_item).to_have_count(1)
    expect(batch_item).to_contain_text("by admin")
    bug = batch_item.get_by_role("link", name="Bug 1234567")
    assert bug.get_attribute("href") == "https://bugzilla.mozilla.org/show_bug.cgi?id=1234567"
    files_list = batch_item.locator("ul.batch-files")
    expect(files_list).to_be_hidden()
    batch_item.get_by_role("button", name="Show 1 file").click()
    expect(files_list).to_be_visible()

    row.get_by_role("link").first.click()
    expect(page.locator("#file-facts")).to_contain_text(digest)
    assert page.url == f"{server.url}/?file={digest}"
    entry = json.loads(page.locator("#manifest-entry").text_content() or "")
    assert entry == [
        {"filename": f"{tag}-gcc.tar.xz", "size": 3000, "algorithm": "sha512", "digest": digest, "visibility": "public"}
    ]
    expect(page.locator("#tooltool-command")).to_contain_text(f"python tooltool.py --url {server.url}/ fetch")
    expect(page.locator("#curl-command")).to_have_text(f"curl -L -o {tag}-gcc.tar.xz {server.url}/sha512/{digest}")
    expect(page.locator("#file-batches")).to_contain_text(f"{tag} toolchain")
    expect(page.locator("#set-visibility")).to_have_count(0)  # anonymous: no managing

    page.go_back()
    expect(page.locator("#file-results tbody tr")).to_have_count(1)
    page.go_forward()
    expect(page.locator("#file-facts")).to_contain_text(digest)
