"""Every asyncio test of this suite runs on virtual time: no test waits for a real clock."""

from neural_actors.testing import VirtualEventLoop


def pytest_asyncio_loop_factories(config, item):
    return {"virtual": VirtualEventLoop}
