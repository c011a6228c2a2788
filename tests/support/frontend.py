"""A front-end's model of one cell's outputs, kept from the display messages the kernel sends,
so tests and benchmarks see what a notebook would show and count what it was sent.

`display_data` appends an output; `update_display_data` replaces the data of every output
with that display id, as JupyterLab does. `bytes_sent` counts each message as the kernel
serialises it (its content plus `MESSAGE_BYTES` for the header it would carry)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.displaypub import DisplayPublisher

from glm_magic.render.live import MESSAGE_BYTES


class FrontEnd(DisplayPublisher):
    """Install with `with FrontEnd().installed(shell) as fe:`; then read `fe.outputs`."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: list[dict[str, Any]] = []
        self.messages = 0
        self.bytes_sent = 0

    def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None,
                source: Any = None, *, transient: dict[str, Any] | None = None,
                update: bool = False, **kwargs: Any) -> None:
        content = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
        self.messages += 1
        self.bytes_sent += MESSAGE_BYTES + len(json.dumps(content, ensure_ascii=False)
                                               .encode("utf-8"))
        display_id = (transient or {}).get("display_id")
        if update:
            for out in self.outputs:
                if out["display_id"] == display_id:
                    out["data"] = data
        else:
            self.outputs.append({"display_id": display_id, "data": data})

    def clear_output(self, wait: bool = False) -> None:
        self.outputs.clear()

    @property
    def shown(self) -> list[dict[str, Any]]:
        """The bundles of the outputs a front-end renders (an emptied output renders nothing)."""
        return [out["data"] for out in self.outputs if out["data"]]

    @contextmanager
    def installed(self, shell: Any) -> Iterator[FrontEnd]:
        saved = shell.display_pub
        shell.display_pub = self
        try:
            yield self
        finally:
            shell.display_pub = saved
