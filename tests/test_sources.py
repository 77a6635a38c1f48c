"""read_ids_file: text, CSV, Parquet and stdin; errors name the file and line."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

from session_audit.errors import ConfigError
from session_audit.ingest.sources import read_ids_file


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_text_file_ignores_blanks_and_comments_and_sorts_unique(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.txt", "# sessions to re-check\n30\n\n  10  \n20 # note\n10\n")
    assert read_ids_file(path) == [10, 20, 30]


def test_stdin(tmp_path: Path) -> None:
    assert read_ids_file("-", stdin=io.StringIO("5\n3\n\n5\n")) == [3, 5]
    with pytest.raises(ConfigError, match="<stdin>:2: not a session id: 'x'"):
        read_ids_file("-", stdin=io.StringIO("5\nx\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n2\nabc\n", r"ids.txt:3: not a session id: 'abc'"),
        ("1\n1.5\n", r"ids.txt:2: not a session id: '1.5'"),
        ("0\n", r"ids.txt:1: session ids are positive 64-bit integers, got 0"),
        ("-4\n", r"ids.txt:1: session ids are positive"),
        ("99999999999999999999\n", r"ids.txt:1: session ids are positive 64-bit"),
    ],
)
def test_bad_text_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_ids_file(write(tmp_path, "ids.txt", text))


def test_csv_with_an_id_column(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.csv", 'user,session_id,note\n1,30,"a, b"\n2,10,x\n\n3,30,y\n')
    assert read_ids_file(path) == [10, 30]


def test_csv_without_header_uses_the_first_column(tmp_path: Path) -> None:
    assert read_ids_file(write(tmp_path, "ids.csv", "7,foo\n3,bar\n")) == [3, 7]
    assert read_ids_file(write(tmp_path, "h.csv", "SessionId\n8\n")) == [8]


def test_bad_csv_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ids.csv:3: not a session id: 'oops'"):
        read_ids_file(write(tmp_path, "ids.csv", "id,x\n1,a\noops,b\n"))
    with pytest.raises(ConfigError, match=r"e.csv:2: no session id in column 2"):
        read_ids_file(write(tmp_path, "e.csv", "x,id\n1\n"))
    with pytest.raises(ConfigError, match=r"n.csv:1: not a session id: '12abc'"):
        read_ids_file(write(tmp_path, "n.csv", "12abc\n"))


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    pl.DataFrame({"user": [1, 2, 3], "ID": [9, 4, 9]}).write_parquet(path)
    assert read_ids_file(str(path)) == [4, 9]
    first = tmp_path / "first.pq"
    pl.DataFrame({"sessions": [2, 1]}).write_parquet(first)
    assert read_ids_file(str(first)) == [1, 2]


def test_bad_parquet(tmp_path: Path) -> None:
    nulls = tmp_path / "nulls.parquet"
    pl.DataFrame({"id": [1, None]}).write_parquet(nulls)
    with pytest.raises(ConfigError, match=r"nulls.parquet: row 2: not a session id: None"):
        read_ids_file(str(nulls))
    text = tmp_path / "text.parquet"
    pl.DataFrame({"id": ["1"]}).write_parquet(text)
    with pytest.raises(ConfigError, match="column 'id' holds String, not integer"):
        read_ids_file(str(text))
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ConfigError, match=r"junk\.parquet is not a readable Parquet file"):
        read_ids_file(str(junk))


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_ids_file(str(tmp_path / "nope.txt"))
    binary = tmp_path / "ids.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_ids_file(str(binary))
