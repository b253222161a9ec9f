"""Child Python processes of this checkout that open the same database: replay's fold workers
(decision 016) and the server's verifications (decision 021)."""

from __future__ import annotations

import os
from pathlib import Path

from service.persistence import is_postgres_url

ROOT = Path(__file__).resolve().parent.parent


def opens_elsewhere(database: str) -> bool:
    """Whether another process can open ``database``: PostgreSQL, or an SQLite file that exists
    (not SQLite in memory)."""
    return is_postgres_url(database) or Path(database).is_file()


def child_environment() -> dict[str, str]:
    """This process's environment, with this checkout first on ``PYTHONPATH`` so that a child
    imports the same service. The database setting goes to a child on its standard input, not
    its command line, where any user could read a PostgreSQL password."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}
