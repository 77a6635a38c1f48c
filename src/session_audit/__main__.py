"""`python -m session_audit` runs the CLI."""

from session_audit.cli import main

if __name__ == "__main__":
    main()
