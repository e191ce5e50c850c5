"""`python -m worldflux_cli` runs the `worldflux` command."""

from worldflux_cli.cli.app import main

if __name__ == "__main__":
    main()
