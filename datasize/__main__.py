"""`python -m datasize` runs the command-line interface."""

from datasize.cli import main

if __name__ == "__main__":
    main()
