"""The README stays true about configuration: every setting is documented with its variable
and its default, and nothing documented is missing from the code."""
import re
from dataclasses import fields

from services.common.settings import REPO_ROOT, Settings

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_with_its_variable():
    for field in fields(Settings):
        row = re.search(rf"^\| {field.name} \| `JIESU_{field.name.upper()}` \|(.+)$", README,
                        re.MULTILINE)
        assert row, f"README has no configuration row for {field.name}"


def test_the_readme_documents_no_setting_that_does_not_exist():
    documented = set(re.findall(r"^\| (\w+) \| `JIESU_", README, re.MULTILINE))
    assert documented == {field.name for field in fields(Settings)}


def test_the_shipped_config_file_loads():
    settings = Settings.load(REPO_ROOT / "config" / "jiesu.yaml", environ={})
    assert settings.gateway_port == 8000
