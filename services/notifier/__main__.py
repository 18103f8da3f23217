"""python -m services.notifier"""

from __future__ import annotations

import sys

from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from services.notifier.worker import MissingSecret
from shared.serve import serve

if __name__ == "__main__":
    settings = NotifierSettings()
    try:
        app = create_app(settings)
    except MissingSecret as exc:
        sys.exit(f"vigie notifier: {exc}")
    serve(app, settings, service="notifier")
