"""`session-audit verify`: an untouched export verifies; any change fails, listing it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from session_audit.analysis.export import export_dataset
from session_audit.analysis.verify import check_export, verify_export
from session_audit.cli import run_app
from session_audit.errors import VerificationError
from test_views_data import sample_db


def _export(tmp_path: Path, fmt: str, partition_rows: int = 1_000_000) -> Path:
    out = tmp_path / f"export-{fmt}"
    export_dataset(
        sample_db(), dataset="user_sessions", fmt=fmt, out_dir=out, partition_rows=partition_rows
    )
    return out


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_untouched_export_verifies(tmp_path: Path, fmt: str) -> None:
    out = _export(tmp_path, fmt, partition_rows=20)
    report = verify_export(out)
    assert report.ok and report.rows == 123 and len(report.checked) == 2


def test_a_changed_byte_fails_and_names_the_file(tmp_path: Path) -> None:
    out = _export(tmp_path, "csv")
    target = out / "user_sessions.csv"
    data = bytearray(target.read_bytes())
    data[-5] = ord("9") if data[-5] != ord("9") else ord("8")
    target.write_bytes(bytes(data))
    report = check_export(out)
    assert [p.split(":")[0] for p in report.problems] == ["user_sessions.csv"]
    assert "sha256 changed" in report.problems[0]
    with pytest.raises(VerificationError, match=r"user_sessions\.csv: sha256 changed"):
        verify_export(out)


def test_a_removed_row_fails_on_hash_and_row_count(tmp_path: Path) -> None:
    out = _export(tmp_path, "csv")
    target = out / "user_sessions.csv"
    lines = target.read_text().splitlines(keepends=True)
    target.write_text("".join(lines[:-1]))
    problems = check_export(out).problems
    assert any("sha256 changed" in p for p in problems)
    assert "user_sessions.csv: 122 rows, manifest says 123" in problems


def test_missing_extra_and_damaged_parquet_files_are_all_listed(tmp_path: Path) -> None:
    out = _export(tmp_path, "parquet", partition_rows=20)
    (out / "user_sessions-2024-03.parquet").unlink()
    (out / "notes.txt").write_text("added later")
    (out / "user_sessions-2024-04.parquet").write_bytes(b"PAR1 not really")
    problems = check_export(out).problems
    assert "user_sessions-2024-03.parquet: missing" in problems
    assert "notes.txt: extra file not in the manifest" in problems
    assert any(
        p.startswith("user_sessions-2024-04.parquet: rows cannot be counted") for p in problems
    )


def test_an_edited_manifest_row_count_fails(tmp_path: Path) -> None:
    out = _export(tmp_path, "csv")
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    manifest["files"][0]["rows"] = 1
    (out / "manifest.json").write_bytes(orjson.dumps(manifest))
    problems = check_export(out).problems
    assert "user_sessions.csv: 123 rows, manifest says 1" in problems


def test_no_manifest_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match=r"no manifest\.json"):
        check_export(tmp_path)


def test_cli_verify_exit_codes_and_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _export(tmp_path, "csv")
    assert run_app(["verify", str(out)]) == 0
    assert "ok: 1 file(s), 123 row(s) of user_sessions" in capsys.readouterr().out
    (out / "user_sessions.csv").write_text("org,id\n")
    (out / "extra.csv").write_text("x\n")
    assert run_app(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "does not match its manifest (3 problem(s))" in err
    assert "user_sessions.csv: 0 rows, manifest says 123" in err
    assert "extra.csv: extra file not in the manifest" in err
    assert run_app(["verify", str(tmp_path / "nowhere")]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_signature_states_through_the_api(tmp_path: Path) -> None:
    from session_audit.analysis.signing import generate_keypair, load_private_key, load_public_key

    private_path, public_path, key_id = generate_keypair(tmp_path / "keys")
    out = tmp_path / "signed"
    result = export_dataset(
        sample_db(),
        dataset="users",
        fmt="csv",
        out_dir=out,
        sign_key=load_private_key(private_path),
    )
    assert result.signed and len(key_id) == 16
    public = load_public_key(public_path)
    assert check_export(out, public).signature == "checked"
    assert check_export(out).signature == "unchecked"
    unsigned = _export(tmp_path, "csv")
    assert check_export(unsigned).signature == "none" and check_export(unsigned).ok
    assert check_export(unsigned, public).problems == (
        "manifest.json.sig: missing (the export is not signed)",
    )
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    manifest["dataset"] = "not users"
    (out / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    problems = check_export(out, public).problems
    assert "manifest.json: changed since it was signed" in problems
    assert "manifest.json.sig: the signature does not match manifest.json" in problems
