"""What the magic's code needs of its host (`Host`: the magic, as a small Protocol, so these
modules never import it) and where text goes: the view for a cell's answer, and model-written
text outside an answer."""

from __future__ import annotations

from typing import Any, Protocol

from ..render.views import NotebookView, TerminalView
from ..sanitize import terminal_safe


class Host(Protocol):
    """What the cell and subcommand code needs from the magic (its settings and shell): the
    magic passes itself, and nothing here imports the magic."""

    session: Any
    shell: Any
    output: str
    show_footer: bool
    allow_remote_images: bool
    interpolate: bool
    temperature: float | None
    system: str | None
    stream: bool
    cell_id: str | None


GLMMagics = Host  # the name the signatures below were written with



# --- parsing helpers ---------------------------------------------------------------------------


def make_view(magics: GLMMagics, fmt: str) -> NotebookView | TerminalView:
    out = magics.output
    if out == "auto":
        out = "notebook" if getattr(magics.shell, "kernel", None) is not None else "terminal"
    rate = magics.session.exchange_rate
    if out == "notebook":
        return NotebookView(fmt, footer=magics.show_footer, rate=rate,
                            allow_images=magics.allow_remote_images)
    return TerminalView(fmt, footer=magics.show_footer, rate=rate)


def show_text(magics: GLMMagics, text: str) -> None:
    """Model-written text outside an answer (history): escaped HTML in a notebook, where
    stdout would autolink its URLs; terminal-safe text elsewhere."""
    from ..sanitize import text_html

    if isinstance(make_view(magics, "text"), NotebookView):
        from IPython.display import display

        display({"text/plain": terminal_safe(text), "text/html": text_html(text)}, raw=True)
    else:
        print(terminal_safe(text))
