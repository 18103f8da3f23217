"""A webhook receiver for the notifier bench, in a process of its own.

A minimal HTTP/1.1 keep-alive server on asyncio: it answers every POST ``200`` and records,
per request, the idempotency key and the wall-clock arrival time (``<key>\\t<unix seconds>``
lines, written to ``--out`` when it stops). Kept out of the notifier's process so that the
receiver's work does not count against the notifier.

``python -m bench.webhook_sink --port P --out FILE``; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path

import uvloop

KEY_HEADER = b"x-vigie-idempotency-key"
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def serve(port: int, out: Path) -> None:
    arrivals: list[tuple[str, float]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                at = time.time()
                key, length = "", 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == KEY_HEADER:
                        key = value.strip().decode()
                await reader.readexactly(length)
                arrivals.append((key, at))
                writer.write(ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        print("ready", flush=True)
        await stop.wait()
    out.write_text("".join(f"{key}\t{at:.6f}\n" for key, at in arrivals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # The services run on uvloop (uvicorn's choice when it is installed); BENCH_LOOP=asyncio
    # measures on the standard loop instead.
    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        uvloop.run(serve(args.port, args.out))
    else:
        asyncio.run(serve(args.port, args.out))


if __name__ == "__main__":
    main()
