"""The ``nixlens`` command: ``nixlens eval`` and ``nixlens serve``."""

from __future__ import annotations

import gc
import sys

USAGE = """usage: nixlens COMMAND [ARGS]

commands:
  eval    evaluate a Nix file or expression (like nix-instantiate --eval)
  serve   run the language server (stdio by default, --tcp HOST:PORT)

Run 'nixlens COMMAND --help' for the options of a command.
"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    cmd, rest = args[0], args[1:]
    if cmd == "eval":
        if argv is None:  # the whole process: see ``main_process``
            # Collect as seldom as the evaluator's loop does (``vm.Machine.run``)
            # from the start: importing the evaluator and loading lib's code
            # make objects by the hundred thousand, none of them garbage.
            gc.set_threshold(200_000, 20, 100)
            from evaluator.cli import main_process

            main_process(rest)
        from evaluator.cli import main as eval_main

        return eval_main(rest)
    if cmd == "serve":
        from server.lsp import main as serve_main

        return serve_main(rest) or 0
    if cmd in ("--version", "version"):
        sys.stdout.write("nixlens 0.1.0\n")
        return 0
    sys.stderr.write(f"nixlens: unknown command '{cmd}'\n\n{USAGE}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
