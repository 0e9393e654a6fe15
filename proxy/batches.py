"""Batch records: `batches/<id>.json`, written once per POST /upload and journaled."""

import logging

from manifests import Batch, ValidationError
from proxy.journal import Journal
from proxy.keys import batch_key
from proxy.storage import ObjectStore
from proxy.storage.cas import update_object

log = logging.getLogger("tooltool.batches")


class BatchRecords:
    def __init__(self, store: ObjectStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal

    async def save(self, batch: Batch) -> None:
        """Write a new batch record; never over another (ids are random: a clash is refused)."""
        await self.store.write(batch_key(batch.id), batch.to_json(), if_absent=True)
        await self.journal.append_batch(batch)

    async def put(self, batch: Batch) -> None:
        """Write the batch record whole, over whatever is there (`import-legacy` owns the records
        it imports), as a compare-and-swap; journaled when it changed."""
        wanted = batch.to_json()
        updated = await update_object(self.store, batch_key(batch.id), lambda _current: wanted)
        if updated.written:
            await self.journal.append_batch(batch)

    async def get(self, batch_id: int) -> Batch | None:
        data = await self.store.read(batch_key(batch_id))
        if data is None:
            return None
        try:
            return Batch.from_json(data)
        except ValidationError as exc:
            log.warning("invalid batch record", extra={"key": batch_key(batch_id), "reason": str(exc)})
            return None
