"""natrix's command line, with one fix for modules that `uses:` several others.

natrix 0.1.9 lints a module whose storage is initialized elsewhere (`uses: ledger`) by
skipping its metadata when the compiler says "InitializerException ... is used but never
initialized!". It recognises that message only in the form Vyper prints for a single error
(`vyper.exceptions.InitializerException`); a module with two or more `uses:` gets Vyper
0.4.3's "Compilation failed with the following errors: ... InitializerException: ..." and
natrix crashes on it. This widens the check to that form and changes nothing else.
"""

from __future__ import annotations

import sys

from natrix import ast_tools, main

_compile = ast_tools.vyper_compile


def _vyper_compile(*args, **kwargs):
    try:
        return _compile(*args, **kwargs)
    except Exception as e:  # natrix raises a bare Exception with the compiler's stderr
        text = str(e)
        only_deferred = "is used but never initialized!" in text and all(
            line.strip().startswith(("InitializerException", "vyper.exceptions.VyperException"))
            for line in text.splitlines() if "Exception" in line and "Traceback" not in line
        )
        if only_deferred:
            raise Exception("vyper.exceptions.InitializerException: is used but never initialized!") from e
        raise


ast_tools.vyper_compile = _vyper_compile

if __name__ == "__main__":
    sys.exit(main())
