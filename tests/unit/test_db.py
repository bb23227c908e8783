"""The state database: concurrent commands opening a new one at the same moment."""

import threading
from pathlib import Path

from skiff import db


def open_together(path: str, count: int) -> list[Exception]:
    """``count`` threads open the database at one moment; what each one raised."""
    start = threading.Barrier(count)
    errors: list[Exception] = []

    def open_it() -> None:
        start.wait()
        try:
            conn = db.connect(path)
            assert conn.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
            conn.close()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_first_opens_of_a_new_database_all_succeed(tmp_path: Path) -> None:
    """Switching to WAL needs the database to itself; SQLite refuses at once ("database is
    locked", no busy timeout) while another connection opens it: about one round in ten
    failed here before connect retried the switch."""
    for round in range(60):
        errors = open_together(str(tmp_path / f"r{round}" / "skiff.db"), 6)
        assert errors == [], f"round {round}: {errors}"
