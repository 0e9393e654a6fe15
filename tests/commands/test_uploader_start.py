"""`tooltool-proxy upload` starts without its HTTP client: it is loaded while the manifest check hashes."""

import subprocess
import sys

from proxy.uploader import HTTP_CLIENT_MODULES


def test_importing_the_upload_command_does_not_load_its_http_client() -> None:
    probe = f"import sys, proxy.uploader; print(','.join(m for m in {HTTP_CLIENT_MODULES!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)

    assert done.stdout.strip() == ""
