"""A command-line bitwuzla for halmos: ``python bitwuzla_cli.py [--abstraction] FILE.smt2``.

pip's ``bitwuzla`` ships the Python bindings only, and halmos talks to its solver as a
process (``--solver-command "<cmd>"``: it appends the query file and reads ``sat``/``unsat``
and the model from stdout). This runs the bindings' SMT-LIB parser on the file, which
executes ``(check-sat)`` and ``(get-model)`` and prints their answers, like the bitwuzla
binary does. It runs under the halmos virtualenv's Python (the one with ``bitwuzla``), so it
imports nothing from perpvault.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from bitwuzla import Option, Options, Parser, TermManager

    flags = [a for a in argv if a.startswith("--")]
    files = [a for a in argv if not a.startswith("--")]
    if len(files) != 1 or set(flags) - {"--abstraction"}:
        print("usage: bitwuzla_cli.py [--abstraction] FILE.smt2", file=sys.stderr)
        return 2
    options = Options()
    options.set(Option.PRODUCE_MODELS, True)
    if "--abstraction" in flags:
        # Abstracts wide multiplications and divisions and refines them lazily: what lets
        # bitwuzla decide 256-bit mul/div rounding queries that bit-blasting cannot.
        options.set(Option.ABSTRACTION, True)
    parser = Parser(TermManager(), options, "smt2")
    parser.parse(files[0])
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
