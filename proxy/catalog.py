"""Search without a database (issue 3 §2). PLACEHOLDER: to be replaced by the real catalog."""

from manifests import Batch, IndexEntry
from proxy.batches import BatchRecords
from proxy.index import FileIndex


class Catalog:
    def __init__(self, index: FileIndex, batches: BatchRecords) -> None:
        self.index = index
        self.batches = batches

    async def search_files(self, query: str) -> list[IndexEntry]:
        raise NotImplementedError

    async def search_batches(self, query: str) -> list[Batch]:
        raise NotImplementedError
