"""perpvault's ape plugin: nothing but the project's tools on PATH.

ape imports every installed ``ape-*`` distribution when it starts (its plugin manager), before
any command connects a provider. ape-foundry finds Anvil only through ``shutil.which("anvil")``
and ape-vyper finds the compiler only through ``shutil.which("vyper")``; neither has a setting
for a path. So importing this plugin runs :func:`perpvault.paths.ensure_tool_path`, which puts
``node_modules/@foundry-rs/anvil-<platform>/bin`` and the virtualenv's ``bin`` first on this
process's ``PATH``. ``ape run deploy``, ``ape console`` and ``ape test`` then work from a shell
whose PATH has nothing added. It registers no hooks.
"""

try:
    from perpvault.paths import ensure_tool_path
except ImportError:  # perpvault itself not installed: nothing to find
    pass
else:
    ensure_tool_path()
