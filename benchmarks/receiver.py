"""A fast webhook receiver for the delivery benchmark: HTTP/1.1 keep-alive on asyncio, answers
every POST with 204 and notes when each CloudEvent arrived (wall clock, so that another process
on this machine can compare).  ``GET /dump`` answers the notes as JSON, ``GET /count`` how many;
``POST /reset`` clears them; ``GET /healthz`` answers 200.

    python benchmarks/receiver.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

_NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
# (received at, type, subject, seq, the event's time)
notes: list[tuple[float, str, str | None, int | None, str | None]] = []


def _answer(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            at = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path == "/reset":
                notes.clear()
                writer.write(_NO_CONTENT)
            elif method == "POST":
                event = json.loads(body)
                data = event.get("data") or {}
                notes.append(
                    (
                        at,
                        event.get("type", ""),
                        event.get("subject"),
                        data.get("seq"),
                        event.get("time"),
                    )
                )
                writer.write(_NO_CONTENT)
            elif path == "/count":
                writer.write(_answer("200 OK", str(len(notes)).encode()))
            elif path == "/dump":
                writer.write(_answer("200 OK", json.dumps(notes).encode()))
            else:
                writer.write(_answer("200 OK", b"{}"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
