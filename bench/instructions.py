"""One kind of sequential request, run under callgrind by bench/run.py: `mode` is httpx (raw),
plain (`Client(record=False)`) or recorded (a bare `Client()`, recording on). Instruction
counts do not depend on what else the machine is doing, so the recording's cost is measured
exactly; the writer thread's instructions count too."""

from __future__ import annotations

import os
import sys
import tempfile
import time

MSG = [{"role": "user", "content": "hi"}]
KEY = "0123456789abcdef0123456789abcdef.benchsecret12345"


def main() -> None:
    mode, n, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.environ["GLM_MAGIC_LEDGER"] = os.path.join(tempfile.mkdtemp(), "ledger.sqlite")
    if mode == "httpx":
        import httpx

        client = httpx.Client(timeout=60)
        url, body = f"{base}/chat/completions", {"model": "glm-4-flash", "messages": MSG}

        def one() -> object:
            return client.post(url, json=body).json()
    else:
        from glm_magic import Client

        ours = Client("zhipu", api_key=KEY, base_url=base, record=mode == "recorded")

        def one() -> object:
            return ours.chat.completions.create(model="glm-4-flash", messages=MSG)
    for _ in range(20 + n):
        one()
    time.sleep(0.2)  # the ledger writer's last group


if __name__ == "__main__":
    main()
