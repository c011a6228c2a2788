"""The ipywidgets front-end: `ChatPanel`."""
