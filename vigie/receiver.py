"""A receiver for Vigie's signed webhooks, for trying Vigie out: ``vigie receiver``.

It checks each delivery's signature and prints it as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.notifier.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

MAX_AGE_S = 300


def create_receiver(secret: bytes) -> FastAPI:
    app = FastAPI(title="Vigie webhook receiver")

    @app.post("/{path:path}")
    async def receive(path: str, request: Request) -> JSONResponse:
        body = await request.body()
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= MAX_AGE_S
        valid = fresh and verify(secret, signature, timestamp, body)
        line = {"path": "/" + path, "signature_valid": valid, "body": json.loads(body or b"null")}
        print(json.dumps(line, ensure_ascii=False), file=sys.stdout, flush=True)
        if not valid:
            return JSONResponse({"error": "bad or stale signature"}, status_code=401)
        return JSONResponse({"received": True})

    return app
