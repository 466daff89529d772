#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time each way and counts round
trips: a "flight" is client data sent after the server last spoke, so flights per message is the
number of round trips a client waits per message.

usage: delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS STATS_FILE
The stats file holds the total number of flights, rewritten after every new flight.
"""
import asyncio
import sys

LISTEN, TARGET, DELAY, STATS = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000, sys.argv[4]
flights = 0


def record():
    with open(STATS, "w") as f:
        f.write(f"{flights}\n")


async def pump(reader, writer, from_client, state):
    global flights
    queue = asyncio.Queue()

    async def deliver():
        loop = asyncio.get_running_loop()
        while True:
            at, data = await queue.get()
            if data is None:
                break
            wait = at + DELAY - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    loop = asyncio.get_running_loop()
    try:
        while data := await reader.read(65536):
            if from_client and state["last"] != "client":
                flights += 1
                record()
            state["last"] = "client" if from_client else "server"
            queue.put_nowait((loop.time(), data))
    except ConnectionError:
        pass
    queue.put_nowait((loop.time(), None))
    await sender


async def handle(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", TARGET)
    state = {"last": "server"}
    await asyncio.gather(
        pump(client_reader, server_writer, True, state),
        pump(server_reader, client_writer, False, state),
        return_exceptions=True,
    )


async def main():
    record()
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN)
    async with server:
        await server.serve_forever()


asyncio.run(main())
