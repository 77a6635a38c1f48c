"""Analysis on the stored sessions: ad-hoc queries, verified exports and the HTML report.

Modules: ``catalog`` (which tables and views exist, their columns), ``query`` (read-only SQL),
``export`` (CSV/Parquet files plus ``manifest.json``), ``verify`` (re-check an export),
``report`` with ``charts`` (one self-contained HTML page), ``lake`` (``--lake``: user_sessions
mirrored as Parquet by org and month). The SQL lives in ``sql/views`` and ``sql/queries``.
"""
