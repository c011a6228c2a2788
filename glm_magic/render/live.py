"""How a notebook view streams a long answer without re-sending all of it on every update.

A front-end can only replace a display output whole, so a view that re-sends the answer so far
at 20 updates a second sends bytes that grow with the square of the answer. Instead:

- `settled_length` finds the Markdown blocks at the head of the unfinished text that nothing
  later can change; the view moves them to outputs of their own and updates only the tail;
- `Budget` paces the in-place updates: bytes sent may grow with the characters received (and a
  little with wall time, so a slow stream still updates freely), never with their square."""

from __future__ import annotations

import time
from typing import Any

from ..sanitize import markdown_parser, terminal_safe

# answers shorter than this stay in one output (most answers: no outputs left emptied)
SPLIT_AFTER = 16_384
# a settled head at least this long (or a sixth of what is already settled, whichever is
# more) becomes an output of its own, so a 1 MB answer needs tens of outputs, not hundreds
BLOCK_MIN = 4096
BLOCK_SHARE = 6
# outputs one answer may use while it streams (JupyterLab hides a cell's outputs past 50);
# a longer answer's tail then grows, paced by the budget
POOL = 24
# what a display message costs besides its data: header, parent header, ids, signature
MESSAGE_BYTES = 700


def settled_length(text: str) -> int:
    """How many leading characters of `text` are whole top-level Markdown blocks that no text
    appended later can change: the blocks before the last one that follows a blank line, cut
    at a line start. Only whole lines count (a line's end can still turn it into a table row),
    and never past a `$$` that is still open (its closing line would take what follows).
    0 when there is no such block."""
    end = text.rfind("\n") + 1
    if end == 0:
        return 0
    lines = terminal_safe(text[:end]).split("\n")  # the same line breaks the renderer sees
    tokens = markdown_parser().parse("\n".join(lines))
    starts = [t.map[0] for t in tokens if t.level == 0 and t.nesting >= 0 and t.map]
    limit = _open_math(lines, tokens)
    for start in reversed(starts[1:]):
        if 0 < start <= limit and not lines[start - 1].strip():
            return _line_offset(text, start)
    return 0


def _open_math(lines: list[str], tokens: list[Any]) -> int:
    """The first line with an unpaired `$$` outside a math block, fence or code block (a
    display-math opener still waiting for its close), or the line count when there is none."""
    covered = set()
    for t in tokens:
        if t.type in ("math_block", "math_block_label", "fence", "code_block") and t.map:
            covered.update(range(*t.map))
    for i, line in enumerate(lines):
        if line.count("$$") % 2 and i not in covered:
            return i
    return len(lines)


def _line_offset(text: str, line: int) -> int:
    """The offset in `text` where line number `line` starts (lines end at `\\n` only)."""
    pos = 0
    for _ in range(line):
        pos = text.index("\n", pos) + 1
    return pos


class Budget:
    """Bytes a live view may send: `ratio` per character received, plus `per_second` of wall
    time while the stream is no faster than `reading_speed` characters a second.

    A stream at reading speed (every model's, over a network) updates at the frame rate: its
    bytes a second are few. A faster one (a replay, a cache, a local model on a big machine)
    is paced by its size alone, so its bytes grow with the answer, never with its square."""

    def __init__(self, ratio: float = 0.15, per_second: float = 65_536.0,
                 reading_speed: float = 16_384.0, floor: float = 4 * MESSAGE_BYTES) -> None:
        self.ratio, self.per_second, self.reading_speed = ratio, per_second, reading_speed
        self.floor = floor
        self.spent = 0
        self._start: float | None = None

    def allows(self, cost: int, received: int) -> bool:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        elapsed = now - self._start
        slow = max(0.0, 1.0 - received / (elapsed * self.reading_speed)) if elapsed else 0.0
        allowance = self.floor + self.ratio * received + self.per_second * elapsed * slow
        return self.spent + cost <= allowance

    def spend(self, cost: int) -> None:
        self.spent += cost
