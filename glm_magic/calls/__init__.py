"""The call path every front-end shares: the session and its settings, conversations, the
client pool, and the features built on a call (structured output, tools, async tasks,
images)."""
