"""perpvault: a perpetuals vault in Vyper, with its executable spec and tooling in Python.

Importing this package has no side effects; tool paths are set up by
:func:`perpvault.paths.ensure_tool_path`, which the CLI and ``tests/conftest.py`` call.
"""

__version__ = "0.1.0"
