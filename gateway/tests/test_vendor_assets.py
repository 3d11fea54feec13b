"""The vendored front-end files are the ones LICENSES.md records, byte for byte, with their licences.

The pages serve these files themselves (no CDN), so a silently edited or swapped file would ship
to every phone; the table in LICENSES.md is the record of where each came from.
"""
import hashlib
import re
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parents[1] / "pages" / "static" / "vendor"
LICENSES = VENDOR / "LICENSES.md"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def versions():
    pairs = {}
    for line in (VENDOR / "VERSIONS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("=")
            pairs[name.strip()] = version.strip()
    return pairs


def recorded():
    """The rows of LICENSES.md's table, keyed by file name."""
    rows = {}
    for line in LICENSES.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 8 and SHA256.match(cells[6]):
            name, package, version, tarball, tarball_sha, inner, file_sha, licence = cells
            rows[name] = dict(package=package, version=version, tarball=tarball,
                              tarball_sha256=tarball_sha, inner=inner, sha256=file_sha,
                              licence=licence)
    return rows


def expected_files():
    v = versions()
    return {"htmx": f"htmx-{v['htmx']}.min.js", "weui": f"weui-{v['weui']}.min.css"}


def test_versions_names_htmx_2_and_weui_2_6():
    v = versions()
    assert set(v) == {"htmx", "weui"}
    assert re.fullmatch(r"2\.0\.\d+", v["htmx"]), v["htmx"]    # htmx 4 changed its defaults
    assert re.fullmatch(r"2\.6\.\d+", v["weui"]), v["weui"]


def test_every_vendored_file_is_recorded_and_every_record_is_a_file():
    on_disk = {p.name for p in VENDOR.iterdir() if p.name not in ("LICENSES.md", "VERSIONS")}
    assert on_disk == set(recorded())
    assert set(expected_files().values()) == on_disk


@pytest.mark.parametrize("name", sorted(recorded()))
def test_file_matches_its_recorded_sha256_version_and_licence(name):
    row = recorded()[name]
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == row["sha256"]
    assert SHA256.match(row["tarball_sha256"])
    assert row["tarball"] == f"{row['package']}-{row['version']}.tgz"
    assert row["version"] in name
    text = LICENSES.read_text()
    assert f"## {row['package']} {row['version']}" in text
    # The full licence text, not only its name.
    marker = {"0BSD": "Permission to use, copy, modify, and/or distribute this software for\nany "
                      "purpose with or without fee is hereby granted.",
              "MIT": "Permission is hereby granted, free of charge, to any person obtaining a "
                     "copy of this software"}[row["licence"]]
    assert marker in text


def test_htmx_file_declares_version_2():
    name = expected_files()["htmx"]
    source = (VENDOR / name).read_text()
    declared = re.search(r'version:\s*"([^"]+)"', source)
    assert declared, "htmx.min.js no longer declares its version"
    assert declared.group(1) == versions()["htmx"]
    assert declared.group(1).startswith("2.")


def test_weui_stylesheet_fetches_nothing_from_outside():
    """WeUI's icons are inline data: images; an http(s) url() would be a run-time download."""
    css = (VENDOR / expected_files()["weui"]).read_text()
    assert "@import" not in css
    for target in re.findall(r"url\(\s*['\"]?([^'\")]*)", css):
        assert target.startswith(("data:", "%23", "#")), target
    assert f"WeUI v{versions()['weui']}" in css
