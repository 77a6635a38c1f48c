"""The analysis views: names, in creation order, of ``sql/views/<name>.sql``.

:func:`session_audit.db.migrations.migrate` runs each file (``CREATE OR REPLACE VIEW``) in this
order, so a view comes after every view it reads. Each file's header comment documents its
columns. Helper views (``ip_networks``, ``app_versions``, ``user_app_versions``) are public too:
staff can query them directly.
"""

from __future__ import annotations

VIEWS: tuple[str, ...] = (
    "ip_networks",
    "login_history",
    "ip_activity",
    "shared_ips",
    "new_ip_logins",
    "concurrent_sessions",
    "app_versions",
    "user_app_versions",
    "app_version_usage",
    "app_version_daily",
    "user_risk_summary",
)
