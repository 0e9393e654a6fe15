"""The tooltool scope strings of a deployment (PROTOCOL.md §5), built once from the config."""

from dataclasses import dataclass

from manifests import Visibility

# Every action a tooltool scope grants, in the order `clients add` and /auth/whoami list them.
ACTIONS = ("download/public", "download/internal", "upload/public", "upload/internal", "manage")


@dataclass(frozen=True)
class Scopes:
    """`<prefix>/download/<visibility>`, `<prefix>/upload/<visibility>`, `<prefix>/manage`."""

    prefix: str

    def download(self, visibility: Visibility) -> str:
        return f"{self.prefix}/download/{visibility.value}"

    def upload(self, visibility: Visibility) -> str:
        return f"{self.prefix}/upload/{visibility.value}"

    @property
    def manage(self) -> str:
        return f"{self.prefix}/manage"

    @property
    def all(self) -> tuple[str, ...]:
        """Each scope of ACTIONS, spelled out (what the embedded admin client gets)."""
        return tuple(f"{self.prefix}/{action}" for action in ACTIONS)

    @property
    def everything(self) -> str:
        """The one scope that matches all of them (`<prefix>/*`)."""
        return f"{self.prefix}/*"
