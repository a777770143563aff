"""Every asyncio test of this suite runs on virtual time (``neural_actors_virtual_clock`` in
pyproject.toml, served by our own pytest plugin): no test waits for a real clock."""

pytest_plugins = ["pytester"]
