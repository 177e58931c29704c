"""The admin commands' fixtures (a `pipeline sim` subprocess per module, the CLI runner, topic reads) are defined
once in tests/integration/directory/conftest.py."""

from ..directory.conftest import cli, read_topic, sim_process

__all__ = ["cli", "read_topic", "sim_process"]
