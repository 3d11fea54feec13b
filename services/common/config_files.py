"""Reading the YAML files the office keeps (screening rules, the working calendar, the
assessment rules): one way to say that a file cannot be read or is not YAML."""
from __future__ import annotations

from pathlib import Path

import yaml


def read_yaml(path: str | Path, what: str, error: type[Exception], loader=yaml.SafeLoader):
    """The document in `path`, or `error` naming `what` it is ("the working calendar") and
    why it could not be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=loader)  # noqa: S506 - a SafeLoader (sub)class
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc
