"""Team-ledger appends per second on a real PostgreSQL server (started here, as the tests do):
one process, and four processes at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger_appends import ROW  # noqa: E402

from glm_magic.testing.postgres import PostgresServer  # noqa: E402

CHILD = """
import sys, time
from glm_magic.accounting.ledgers import open_ledger
sys.path.insert(0, {here!r})
from ledger_appends import ROW
led = open_ledger({url!r})
led.append(ROW)
t = time.perf_counter()
for _ in range({n}):
    led.append(ROW)
print({n} / (time.perf_counter() - t))
led.close()
"""


def run(n: int = 3_000) -> dict[str, float]:
    from glm_magic.accounting.ledgers import open_ledger

    server = PostgresServer()
    try:
        led = open_ledger(server.url)
        led.append(ROW)  # the schema, once
        t = time.perf_counter()
        for _ in range(n):
            led.append(ROW)
        one = n / (time.perf_counter() - t)
        led.close()
        code = CHILD.format(here=str(Path(__file__).parent), url=server.url, n=n)
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                  text=True) for _ in range(4)]
        total = sum(float(p.communicate()[0].strip().splitlines()[-1]) for p in procs)
    finally:
        server.close()
    return {"one": one, "four": total}


if __name__ == "__main__":
    print(run())
