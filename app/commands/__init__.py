"""CLI sub-commands. Each module has `register(subparsers)`; app/cli.py lists them."""
