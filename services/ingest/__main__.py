"""python -m services.ingest"""

from __future__ import annotations

import gc
import sys

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from shared.serve import serve

# Webhook handling allocates many short-lived objects; with the default threshold (700) the
# young generation was collected every few webhooks, and the full collections that follow
# paused the event loop for tens of milliseconds: the tail of the ack latency.
GC_THRESHOLDS = (20_000, 20, 20)

if __name__ == "__main__":
    settings = IngestSettings()
    if not settings.generic_webhook_secret:
        sys.exit("vigie ingest: VIGIE_GENERIC_WEBHOOK_SECRET is required")
    app = create_app(settings)
    # What start-up built (modules, schemas, the app) lives as long as the process: kept out
    # of every collection, so that a full one scans only what webhooks left behind.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    serve(app, settings, service="ingest")
