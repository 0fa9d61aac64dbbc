"""Where the repository, the virtualenv and the Anvil binary live.

ape-foundry finds Anvil only through ``shutil.which("anvil")`` and ape-vyper finds the
pip-installed compiler only through ``shutil.which("vyper")``. Neither has a config key
for a binary path, so :func:`ensure_tool_path` puts both directories on ``PATH`` before
ape starts a provider or compiles anything. Nobody has to edit their shell ``PATH``.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import sysconfig
from pathlib import Path

# npm publishes one binary package per platform: @foundry-rs/anvil-<os>-<arch>.
_NPM_OS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

# Files that only the perpvault repository root has together.
_ROOT_MARKERS = ("ape-config.yaml", "pyproject.toml")


def _is_repo_root(path: Path) -> bool:
    return all((path / marker).is_file() for marker in _ROOT_MARKERS)


def repo_root() -> Path:
    """Return the repository root (the directory holding ``ape-config.yaml``).

    The package is installed editable (``pip install -e .``), so the root is normally the
    parent of this package. A non-editable install falls back to searching upwards from
    the working directory.
    """
    here = Path(__file__).resolve().parent.parent
    if _is_repo_root(here):
        return here
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if _is_repo_root(candidate):
            return candidate
    raise FileNotFoundError(
        f"perpvault repository root not found (looked for {', '.join(_ROOT_MARKERS)} "
        f"next to {here} and above {cwd})"
    )


def npm_platform() -> str:
    """Return the ``<os>-<arch>`` suffix of the @foundry-rs binary package for this machine."""
    os_name = next((v for k, v in _NPM_OS.items() if sys.platform.startswith(k)), sys.platform)
    machine = platform.machine().lower()
    return f"{os_name}-{_NPM_ARCH.get(machine, machine)}"


def anvil_binary() -> Path:
    """Return the Anvil executable.

    Prefers the real binary from ``node_modules/@foundry-rs/anvil-<platform>/bin``
    (the ``node_modules/.bin/anvil`` wrapper runs through node and costs ~0.13 s per
    launch), then whatever ``anvil`` is already on ``PATH``.
    """
    exe = "anvil.exe" if sys.platform.startswith("win") else "anvil"
    local = repo_root() / "node_modules" / "@foundry-rs" / f"anvil-{npm_platform()}" / "bin" / exe
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise FileNotFoundError(f"anvil not found at {local} nor on PATH; run `make anvil`")


def venv_bin() -> Path:
    """Return the scripts directory of the running interpreter's environment.

    That is where pip put ``vyper`` and ``ape`` (``.venv/bin`` when run via the Makefile).
    Falls back to the repository's ``.venv`` if the interpreter's directory has no vyper.
    """
    scripts = Path(sysconfig.get_path("scripts"))
    vyper = "vyper.exe" if sys.platform.startswith("win") else "vyper"
    if (scripts / vyper).is_file():
        return scripts
    local = repo_root() / ".venv" / ("Scripts" if sys.platform.startswith("win") else "bin")
    return local if local.is_dir() else scripts


def ensure_tool_path() -> list[Path]:
    """Prepend the Anvil and virtualenv bin directories to ``os.environ["PATH"]``.

    Idempotent. Call it before ape connects a provider or compiles (ape-foundry caches the
    anvil path on first use). A missing Anvil is not an error here, so that commands that
    never start a chain (``perpvault --help``) still work; ape-foundry reports it later.
    Returns the directories that are now at the front of ``PATH``.
    """
    dirs: list[Path] = []
    try:
        dirs.append(anvil_binary().parent)
    except FileNotFoundError:
        pass
    dirs.append(venv_bin())

    current = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    front = [str(d) for d in dirs]
    os.environ["PATH"] = os.pathsep.join(front + [p for p in current if p not in front])
    return dirs


def _npm_tool(tool: str) -> Path:
    """Return the real binary of ``@foundry-rs/<tool>`` for this platform, or ``tool`` on PATH."""
    exe = f"{tool}.exe" if sys.platform.startswith("win") else tool
    local = repo_root() / "node_modules" / "@foundry-rs" / f"{tool}-{npm_platform()}" / "bin" / exe
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(tool)
    if found:
        return Path(found)
    raise FileNotFoundError(f"{tool} not found at {local} nor on PATH; run `make anvil`")


def forge_bin() -> Path:
    """Return the forge executable (npm ``@foundry-rs/forge``, installed by ``make anvil``)."""
    return _npm_tool("forge")


def halmos_venv() -> Path:
    """Return the virtualenv holding halmos and its solvers (``.venv/halmos``, ``make venv``).

    halmos pins ``rich`` and ``z3-solver`` versions that eth-ape and the z3 proofs cannot
    share, so it lives in its own environment (formal/requirements-halmos.txt).
    """
    return repo_root() / ".venv" / "halmos"


def halmos_bin() -> Path:
    """Return the halmos executable from :func:`halmos_venv`."""
    scripts = halmos_venv() / ("Scripts" if sys.platform.startswith("win") else "bin")
    exe = scripts / ("halmos.exe" if sys.platform.startswith("win") else "halmos")
    if exe.is_file():
        return exe
    raise FileNotFoundError(f"halmos not found at {exe}; run `make venv`")


def bitwuzla_command(abstraction: bool = True) -> list[str]:
    """Return the solver command halmos runs for bitwuzla (the query file is appended).

    ``perpvault/prove/bitwuzla_cli.py`` under the halmos environment's Python, which has the
    ``bitwuzla`` bindings.
    """
    python = halmos_bin().parent / ("python.exe" if sys.platform.startswith("win") else "python")
    runner = Path(__file__).resolve().parent / "prove" / "bitwuzla_cli.py"
    return [str(python), str(runner), *(["--abstraction"] if abstraction else [])]
