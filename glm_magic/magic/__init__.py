"""The IPython front-end: `%%glm` cells (`commands`), `%glm` subcommands (`subcommands`), the
magic class that parses and dispatches (`magics`), and what they show when a call fails."""
