"""The ``eie`` command line (placeholder until the subcommands land)."""


def main(argv=None) -> int:
    raise SystemExit("eie: not yet implemented")
