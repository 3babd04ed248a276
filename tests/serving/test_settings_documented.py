"""Every setting the service reads is in the README's settings table, and nothing there is stale."""

import re
from pathlib import Path

from serving.config import ServiceSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_settings_table_matches_the_settings():
    table = README.read_text(encoding="utf-8").split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `TRIAGE_([A-Z_]+)`", table, flags=re.MULTILINE)) - {"TEST_DATABASE_URL"}
    assert documented == {name.upper() for name in ServiceSettings.model_fields}
