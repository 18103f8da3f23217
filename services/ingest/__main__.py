"""python -m services.ingest"""

from __future__ import annotations

import sys

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from shared.serve import serve

if __name__ == "__main__":
    settings = IngestSettings()
    if not settings.generic_webhook_secret:
        sys.exit("vigie ingest: VIGIE_GENERIC_WEBHOOK_SECRET is required")
    serve(create_app(settings), settings, service="ingest")
