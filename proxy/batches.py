"""Batch records: `batches/<id>.json`, written once per POST /upload and journaled."""

import json
import logging

from manifests import Batch, ValidationError
from proxy.journal import Journal
from proxy.keys import batch_key
from proxy.storage import ObjectStore

log = logging.getLogger("tooltool.batches")


class BatchRecords:
    def __init__(self, store: ObjectStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal

    async def save(self, batch: Batch) -> None:
        await self.store.write(batch_key(batch.id), batch.to_json())
        await self.journal.append("batch", json.loads(batch.to_json()))

    async def get(self, batch_id: int) -> Batch | None:
        data = await self.store.read(batch_key(batch_id))
        if data is None:
            return None
        try:
            return Batch.from_json(data)
        except ValidationError as exc:
            log.warning("invalid batch record", extra={"key": batch_key(batch_id), "reason": str(exc)})
            return None
