"""``python -m omicsdisent``: the same command line as the ``omicsdisent`` script."""

from omicsdisent.cli import main

if __name__ == "__main__":
    main()
