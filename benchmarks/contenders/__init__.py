"""Contenders of the end-to-end benchmark, each run as its own process (``python -m ...``).

Every contender reads the simulator's address and credentials from the ``SESSION_AUDIT_*``
environment (via :func:`session_audit.settings.load_settings`, so no secret is on a command line),
fetches ``userSession/items`` in calls of ``--batch`` ids, and prints one JSON line with what it
did. The parent measures wall time and peak RSS from outside.
"""
