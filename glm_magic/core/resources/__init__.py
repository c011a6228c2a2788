"""The API surfaces of a client, one module each, SDK-shaped and thin: each builds a request
body and hands it to the client's pipeline (`_create` for chat, `_json` for the rest)."""
