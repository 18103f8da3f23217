"""python -m services.router"""

from __future__ import annotations

import sys

from services.router.app import create_app
from services.router.policy.config import PolicyError
from services.router.settings import RouterSettings
from shared.serve import serve

if __name__ == "__main__":
    settings = RouterSettings()
    try:
        app = create_app(settings)
    except PolicyError as exc:
        sys.exit(f"vigie router: invalid policy\n{exc}")
    serve(app, settings, service="router")
