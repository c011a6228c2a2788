"""The SDK-shaped client: `Client` / `AsyncClient`, the bounded transport, streams, response
parsing and the API resources. Nothing here knows sessions, ledgers, pandas or IPython:
recording reaches a call through the hooks it is given (`hooks`)."""
