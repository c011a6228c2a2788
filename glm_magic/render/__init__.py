"""Where an answer goes while it streams: the notebook and terminal views (`views`) and what a
notebook view sends as a long answer grows (`live`). What is safe to show is `sanitize`."""

from .views import FORMATS, NotebookView, TerminalView, footer_text

__all__ = ["FORMATS", "NotebookView", "TerminalView", "footer_text"]
