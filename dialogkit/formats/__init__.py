"""One module per public format, each a :class:`dialogkit.registry.Format` registered on import."""
