"""The session's clients, cached: one sync client per (provider, timeout, retries), and one
set of async clients per event loop (httpx and aiohttp pools belong to one loop and are
dropped with it). A client whose key or base URL changed in the environment is replaced on
the next call; the old one is left to whoever still streams from it."""

from __future__ import annotations

import weakref
from collections.abc import Callable

from ..core.client import AsyncClient, Client


class ClientPool:
    def __init__(self) -> None:
        self._clients: dict[tuple, Client] = {}
        self._aclients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self, key: tuple, make: Callable[[], Client]) -> Client:
        cl = self._clients.get(key)
        if cl is None or cl.credentials_changed():
            cl = self._clients[key] = make()
        return cl

    def aget(self, key: tuple, make: Callable[[], AsyncClient]) -> AsyncClient:
        import asyncio  # here, not at import: sync use never loads asyncio

        per_loop = self._aclients.setdefault(asyncio.get_running_loop(), {})
        cl = per_loop.get(key)
        if cl is None or cl.credentials_changed():
            cl = per_loop[key] = make()
        return cl

    async def aclose_loop(self) -> None:
        """Close the async clients of the running loop (a private loop is ending)."""
        import asyncio

        for cl in self._aclients.pop(asyncio.get_running_loop(), {}).values():
            await cl.close()

    def reset(self) -> None:
        """Close and drop every client (new settings take effect on the next call)."""
        for cl in self._clients.values():
            cl.close()
        self._clients.clear()
        for loop, clients in list(self._aclients.items()):
            if loop.is_closed():
                continue
            for cl in clients.values():  # close each on the loop that owns its pool
                if loop.is_running():
                    import asyncio

                    asyncio.run_coroutine_threadsafe(cl.close(), loop)
                else:
                    loop.run_until_complete(cl.close())
        self._aclients.clear()


