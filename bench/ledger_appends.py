"""Ledger appends per second on a real SQLite file (WAL, synchronous=NORMAL)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from glm_magic.ledger import Ledger

ROW = {"call_id": "c", "request_id": "r", "attempt": 1, "provider": "zhipu",
       "model": "glm-4-flash", "source": "magic", "conversation": "default", "status": "ok",
       "finish_reason": "stop", "prompt_tokens": 11, "completion_tokens": 40,
       "total_tokens": 51, "usage_estimated": 0, "latency_s": 0.5, "ttft_s": 0.1,
       "cost": 0.0, "currency": "CNY", "cost_status": "free"}


def run(n: int = 20_000, repeats: int = 3) -> dict[str, float]:
    rates = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            led = Ledger(Path(d) / "bench.sqlite")
            t0 = time.perf_counter()
            for _ in range(n):
                led.append(ROW)
            rates.append(n / (time.perf_counter() - t0))
            led.close()
    rates.sort()
    return {"ledger appends/s": rates[len(rates) // 2]}


if __name__ == "__main__":
    print(run())
