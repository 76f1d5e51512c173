"""`polex audit verify` from the command line, on SQLite and PostgreSQL, before and after
someone edits the database behind the node's back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.test_cli import run


def test_verify_passes_then_names_the_first_tampered_entry(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "node"
    environment = {"POLEX_DATABASE_URL": database_url, "POLEX_ADMIN_PASSWORD": "an admin password"}
    run(
        "init",
        "--data-dir",
        str(data_dir),
        "--name",
        "fra",
        "--country",
        "FRA",
        "--admin-user",
        "admin",
        env=environment,
    )
    for name in ("alice", "bob", "carol"):
        run(
            "user",
            "add",
            name,
            "--role",
            "analyst",
            "--data-dir",
            str(data_dir),
            env={**environment, "POLEX_USER_PASSWORD": f"{name}'s long password"},
        )
    note = run("audit", "checkpoint", "--data-dir", str(data_dir), env=environment).stdout
    assert note.startswith("polex/fra/audit\n")

    intact = run("audit", "verify", "--data-dir", str(data_dir), env=environment)
    assert "audit log intact" in intact.stdout

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET entry = replace(entry, 'setup', 'xetup') WHERE seq = 2"))
    engine.dispose()
    tampered = run("audit", "verify", "--data-dir", str(data_dir), env=environment, check=False)
    assert tampered.returncode == 1
    assert "entry 2" in tampered.stderr
