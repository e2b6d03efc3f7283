"""`python -m runner` is the same as the `sync-runner` command."""

from runner.cli import main

if __name__ == "__main__":
    main()
