"""The web page in Chromium against a real `python -m proxy serve`, on the local store and on S3
(moto): search, a file's and a batch's page, sign-in, what each caller sees, managing files."""

import json
import os
import secrets
from pathlib import Path

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Server, open_page
from tests.browser.harness import api_request, upload_as_tooltool
from tests.support.credentials import ADMIN, BEARER_TOKEN, INTERNAL_READER, PUBLIC_READER, Creds


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


def session_storage(page: Page) -> dict[str, str]:
    return dict(page.evaluate("() => Object.fromEntries(Object.entries(sessionStorage))"))


def all_storage_text(page: Page) -> str:
    """Everything the page's origin keeps in the browser: both storages and cookies."""
    stores = page.evaluate(
        "() => JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage), document.cookie])"
    )
    cookies = json.dumps(page.context.cookies())
    return f"{stores} {cookies}"


def test_sign_in_with_an_auth_file_shows_the_client_and_its_scopes(page: Page, server: Server, tmp_path: Path) -> None:
    sign_in_with_file(page, server, auth_file(tmp_path, INTERNAL_READER))
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {INTERNAL_READER.client_id}")
    expect(page.locator("#scopes li")).to_have_text(["project:releng:services/tooltool/api/download/internal"])
    stored = session_storage(page)
    assert json.loads(stored["tooltool.credentials"])["clientId"] == INTERNAL_READER.client_id
    assert INTERNAL_READER.access_token not in page.url
    assert page.context.cookies() == []
    assert page.evaluate("() => localStorage.length") == 0

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signed-in-as")).to_have_count(0)
    text = all_storage_text(page)
    assert INTERNAL_READER.access_token not in text
    assert INTERNAL_READER.client_id not in text
    page.reload()  # and nothing brings them back
    page.wait_for_selector("html[data-ready=true]")
    expect(page.locator("#account")).to_contain_text("Not signed in")


def test_sign_in_by_pasting_a_bearer_token_or_an_auth_file(page: Page, server: Server) -> None:
    open_page(page, f"{server.url}/?view=sign-in")
    page.get_by_label("or paste its contents").fill(BEARER_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as bearer:ci")
    expect(page.locator("#scopes li")).to_have_count(2)
    page.get_by_role("button", name="Sign out").click()
    assert BEARER_TOKEN not in all_storage_text(page)

    open_page(page, f"{server.url}/?view=sign-in")
    pasted = json.dumps({"clientId": ADMIN.client_id, "accessToken": ADMIN.access_token})
    page.get_by_label("or paste its contents").fill(pasted)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as admin")
    expect(page.locator("#scopes li")).to_have_count(5)


def test_refused_credentials_are_said_in_words_and_not_kept(page: Page, server: Server) -> None:
    open_page(page, f"{server.url}/?view=sign-in")
    wrong = json.dumps({"clientId": ADMIN.client_id, "accessToken": "not-the-token"})
    page.get_by_label("or paste its contents").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Sign-in failed: Hawk MAC does not match")
    expect(page.locator("#signed-in-as")).to_have_count(0)
    assert session_storage(page) == {}


def test_internal_files_appear_only_after_sign_in_with_the_download_scope(
    page: Page, server: Server, tmp_path: Path
) -> None:
    tag = unique("vis")
    upload_as_tooltool(server.url, {f"{tag}-public.bin": os.urandom(64)}, f"{tag} public", hawk=hawk(ADMIN))
    internal_batch = upload_as_tooltool(
        server.url, {f"{tag}-internal.bin": os.urandom(64)}, f"{tag} internal", visibility="internal", hawk=hawk(ADMIN)
    )
    internal_digest = internal_batch["files"][f"{tag}-internal.bin"]["digest"]

    def names_found() -> list[str]:
        open_page(page, f"{server.url}/?q={tag}")
        expect(page.locator("h1")).to_have_text("Search results")
        return sorted(page.locator("#file-results td.names").all_text_contents())

    assert names_found() == [f"{tag}-public.bin"]
    expect(page.locator("#batch-results li.batch")).to_have_count(1)
    open_page(page, f"{server.url}/?file={internal_digest}")
    expect(page.get_by_role("alert")).to_contain_text("You don't have the permission to access the requested resource")

    sign_in_with_file(page, server, auth_file(tmp_path, PUBLIC_READER))
    assert names_found() == [f"{tag}-public.bin"]
    page.get_by_role("button", name="Sign out").click()

    sign_in_with_file(page, server, auth_file(tmp_path, INTERNAL_READER))
    assert names_found() == [f"{tag}-internal.bin"]  # internal does not imply public
    page.locator("#file-results").get_by_role("link").first.click()
    expect(page.locator("#file-visibility")).to_have_text("internal")
    expect(page.locator("#curl-command")).to_contain_text('-H "Authorization: Bearer $(cat TOKEN_FILE)"')


def test_manage_changes_visibility_and_deletes_after_confirmation(page: Page, server: Server, tmp_path: Path) -> None:
    tag = unique("manage")
    data = os.urandom(500)
    batch = upload_as_tooltool(server.url, {f"{tag}.tar.gz": data}, f"{tag} to manage", hawk=hawk(ADMIN))
    digest = batch["files"][f"{tag}.tar.gz"]["digest"]
    sign_in_with_file(page, server, auth_file(tmp_path, ADMIN))
    open_page(page, f"{server.url}/?file={digest}")

    page.get_by_role("button", name="Make internal").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"“{tag}.tar.gz”")
    page.get_by_role("button", name="Cancel").click()  # nothing changes
    expect(dialog).to_be_hidden()
    assert api_request(server.url, "GET", f"/file/sha512/{digest}")[0] == 200

    page.get_by_role("button", name="Make internal").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#file-visibility")).to_have_text("internal")
    expect(page.locator("#manage-result")).to_have_text(f"{tag}.tar.gz is now internal.")
    assert api_request(server.url, "GET", f"/sha512/{digest}")[0] == 403
    assert api_request(server.url, "GET", f"/file/sha512/{digest}", hawk=hawk(ADMIN))[1]["visibility"] == "internal"

    page.get_by_role("button", name="Make public").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#file-visibility")).to_have_text("public")

    page.get_by_role("button", name="Delete the stored bytes").click()
    expect(dialog).to_contain_text("Delete the stored bytes of")
    page.keyboard.press("Escape")  # Escape cancels too
    expect(dialog).to_be_hidden()
    expect(page.locator("#file-regions")).not_to_have_text("bytes deleted")
    page.get_by_role("button", name="Delete the stored bytes").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#file-regions")).to_have_text("bytes deleted")
    expect(page.get_by_role("button", name="Delete the stored bytes")).to_be_disabled()
    status, answer = api_request(server.url, "GET", f"/sha512/{digest}")
    assert status == 404, answer
    assert api_request(server.url, "GET", f"/file/sha512/{digest}")[1]["has_instances"] is False


def test_no_manage_buttons_without_the_manage_scope(page: Page, server: Server, tmp_path: Path) -> None:
    tag = unique("nomanage")
    batch = upload_as_tooltool(server.url, {f"{tag}.bin": os.urandom(40)}, tag, hawk=hawk(ADMIN))
    sign_in_with_file(page, server, auth_file(tmp_path, PUBLIC_READER))
    open_page(page, f"{server.url}/?file={batch['files'][f'{tag}.bin']['digest']}")
    expect(page.locator("#file-facts")).to_be_visible()
    expect(page.locator("#set-visibility")).to_have_count(0)
    expect(page.locator("#delete-instances")).to_have_count(0)


def test_credentials_refused_later_are_forgotten_with_the_reason(page: Page, server: Server) -> None:
    """A tab holding credentials the server no longer accepts (revoked, or a wrong token) signs out
    on the next load and says why."""
    open_page(page, server.url + "/")
    page.evaluate(
        "(c) => sessionStorage.setItem('tooltool.credentials', JSON.stringify(c))",
        {"kind": "hawk", "clientId": ADMIN.client_id, "accessToken": "revoked-token"},
    )
    page.reload()
    page.wait_for_selector("html[data-ready=true]")
    expect(page.get_by_role("alert")).to_have_text(
        "Your credentials were refused, so you are signed out: Hawk MAC does not match"
    )
    expect(page.locator("#account")).to_contain_text("Not signed in")
    assert session_storage(page) == {}


def test_a_slow_answer_never_replaces_a_newer_view(page: Page, server: Server) -> None:
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/file/search?*", hold)
    open_page(page, server.url + "/")
    page.get_by_label("Search files and uploads").fill("slow")
    page.get_by_label("Search files and uploads").press("Enter")
    expect(page.locator(".loading")).to_have_text("Searching for “slow”…")
    page.get_by_role("link", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#view-title")).to_have_text("Sign in")
    page.wait_for_timeout(300)  # the search's answer arrives and is dropped
    expect(page.locator("#view-title")).to_have_text("Sign in")
    expect(page.locator("#file-results")).to_have_count(0)
