"""The one version order (macro version_key, sql/macros/version_key.sql), pair by pair."""

from __future__ import annotations

import pytest

from test_views_data import add_sessions, at, make_db, rows

# (lower, relation, higher): relation '<' means lower sorts strictly below higher, '==' equal.
PAIRS = [
    ("5.20250301120000", "<", "5.20250301120001"),
    ("5.20250301120001", "<", "5.20250301120010"),
    ("5.9", "<", "5.20250301120000"),
    ("1.99999999999999999999", "<", "1.100000000000000000000"),
    ("2.0", "==", "2.0.0"),
    ("2", "==", "2.0"),
    ("2.0.0.0", "==", "2"),
    ("1.01", "==", "1.1"),
    ("v2.1", "==", "2.1"),
    ("1.9", "<", "1.10"),
    ("1.2", "<", "1.2.1"),
    ("1.2.1", "<", "1.3"),
    ("1.10.0", "<", "1.10.1"),
    ("0.9.9", "<", "1.0"),
    ("0", "<", "0.0.1"),
    ("2.0-beta", "<", "2.0"),
    ("2.0-alpha", "<", "2.0-beta"),
    ("2.0-beta", "<", "2.0-beta.2"),
    ("2.0-beta.2", "<", "2.0-beta.10"),
    ("2.0-rc1", "<", "2.0-rc2"),
    ("2.0-rc2", "<", "2.0-rc10"),
    ("2.0-beta", "<", "2.0-rc1"),
    ("2.1.0-rc1", "<", "2.1"),
    ("2.1.0-rc1", "==", "2.1-rc1"),
    ("2.0", "<", "2.1.0-rc1"),
    ("1.9.9", "<", "2.0-alpha"),
    ("2.0-1", "<", "2.0-alpha"),
    ("2.0-Beta", "==", "2.0-beta"),
    ("2.0+build.5", "==", "2.0"),
    ("2.0+build.5", "==", "2.0+build.9"),
    ("2.0-rc1+b7", "==", "2.0-rc1"),
    ("2.0.0+20250301", "<", "2.0.1"),
    ('2.0 "beta", build 7\nhotfix', "<", "2.0"),
    ('2.0 "beta", build 7\nhotfix', "<", "2.0.1"),
    ("10.0", ">", "9.99"),
    ("1.0.10", ">", "1.0.9"),
]


@pytest.fixture(scope="module")
def keys() -> dict[str, str | None]:
    conn = make_db()
    versions = sorted({v for a, _, b in PAIRS for v in (a, b)} | {"nightly", ""})
    return {v: rows(conn, "SELECT version_key(?)", v)[0][0] for v in versions}


def test_the_table_has_at_least_30_pairs() -> None:
    assert len(PAIRS) >= 30


@pytest.mark.parametrize(("a", "relation", "b"), PAIRS)
def test_version_pairs(keys: dict[str, str | None], a: str, relation: str, b: str) -> None:
    key_a, key_b = keys[a], keys[b]
    assert key_a is not None and key_b is not None
    if relation == "<":
        assert key_a < key_b
    elif relation == ">":
        assert key_a > key_b
    else:
        assert key_a == key_b


def test_text_without_a_number_has_no_key(keys: dict[str, str | None]) -> None:
    assert keys["nightly"] is None and keys[""] is None


def test_app_versions_outdated_and_latest_use_the_same_order() -> None:
    conn = make_db()
    sessions = [
        # user: (app, version)
        (1, "Trader", "5.20250301120000"),  # the old date-stamped build: outdated
        (2, "Trader", "5.20250301120001"),
        (3, "Trader", "5.20250301120001+build.2"),  # build metadata: the same release
        (4, "Beta", "2.1.0-rc1"),  # a pre-release is outdated once its release is out
        (5, "Beta", "2.1"),
        (6, "Other", "2.0"),  # 2.0 and 2.0.0 are one release: both latest, none outdated
        (7, "Other", "2.0.0"),
    ]
    add_sessions(
        conn,
        [
            {"id": uid, "user_id": uid, "start": at(uid), "app": app, "version": version}
            for uid, app, version in sessions
        ],
    )
    got = rows(
        conn,
        "SELECT app_id, app_version, is_prerelease, latest_release, is_latest_release,"
        " is_outdated FROM app_versions ORDER BY app_id, version_key, app_version",
    )
    assert got == [
        ("Beta", "2.1.0-rc1", True, "2.1", False, True),
        ("Beta", "2.1", False, "2.1", True, False),
        ("Other", "2.0", False, "2.0.0", True, False),
        ("Other", "2.0.0", False, "2.0.0", True, False),
        ("Trader", "5.20250301120000", False, "5.20250301120001+build.2", False, True),
        ("Trader", "5.20250301120001", False, "5.20250301120001+build.2", True, False),
        ("Trader", "5.20250301120001+build.2", False, "5.20250301120001+build.2", True, False),
    ]
    outdated = rows(
        conn, "SELECT user_id FROM user_app_versions WHERE is_outdated ORDER BY user_id"
    )
    assert outdated == [(1,), (4,)]
