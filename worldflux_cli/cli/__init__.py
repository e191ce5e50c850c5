"""The Typer command-line interface (thin: parse options, call the library, render)."""
