"""The wrk serving benchmark at one second per run: every server starts, every run is
parsed, the report names every target. No speed is asserted (SERVING.md reports it).

With wrk installed the smoke run uses it; without, the same run goes through the asyncio
fallback client, so the test runs (never skips) on a machine without wrk.
"""

from __future__ import annotations

import shutil

import pytest

from benchmarks import serving_wrk


def test_a_one_second_benchmark_writes_every_target(tmp_path):
    client = "wrk" if shutil.which("wrk") else "python"
    out = tmp_path / "SERVING.md"

    code = serving_wrk.main(["--duration", "1", "--client", client, "--out", str(out)])

    report = out.read_text()
    assert code == 0, report  # no errors in any run
    for row in (
        "starlette single",
        "bentoml single",
        "winback single",
        "winback batch, one connection",
        "winback batch, 50 connections",
    ):
        assert f"| {row} |" in report
    for target in (
        "of the Starlette floor's",
        "p99 <= 2x",
        "0 errors",
        "1,000-id batch",
        "`winback serve` ready",
    ):
        assert target in report
    assert report.count("**met**") + report.count("**not met**") == 5  # fmt: skip


def test_without_wrk_it_stops_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(serving_wrk.shutil, "which", lambda _name: None)
    with pytest.raises(SystemExit, match=r"^error: wrk not found on PATH.*--client python$"):
        serving_wrk.main(["--out", str(tmp_path / "SERVING.md")])


def test_the_fallback_client_counts_answers_and_errors(tmp_path):
    """The asyncio client (used without wrk) against a tiny keep-alive server that answers
    every third request with a 503."""
    import asyncio

    async def scenario() -> serving_wrk.Run:
        served = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal served
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
                    served += 1
                    status = b"503 Service Unavailable" if served % 3 == 0 else b"200 OK"
                    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        load = serving_wrk.Load("python", tmp_path / "ids.txt", ["00001", "00002"], "k", 1, 0.3, 0)
        async with server:
            return await serving_wrk._python_load(f"http://127.0.0.1:{port}", load, "t", 3, 5, 0.3)

    run = asyncio.run(scenario())
    assert run.requests > 10 and run.errors >= run.requests // 3 - 3
    assert 0 < run.p50_ms <= run.p99_ms <= run.max_ms


def test_the_lua_done_line_is_parsed():
    output = (
        "Running 1s test\n  Latency ...\n"
        "WRK_RESULT requests=1200 duration_us=2000000 errors=3 non2xx=3 p50_us=1500 "
        "p99_us=25000 max_us=31000\n"
    )
    run = serving_wrk.parse_wrk(output, "winback", 50, 1)
    assert run.throughput == 600 and run.errors == 3
    assert (run.p50_ms, run.p99_ms, run.max_ms) == (1.5, 25.0, 31.0)
