"""Checks of the deployment files (Dockerfile, docker-compose.yml, k8s/) by reading them."""
import yaml


class PlainLoader(yaml.SafeLoader):
    """PyYAML's safe loader without the `${VAR}` expansion nameko's CLI (`nameko test`)
    registers on yaml.SafeLoader: the files must be read as written."""


PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag.startswith("tag:yaml.org,2002:")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(text: str):
    return yaml.load(text, Loader=PlainLoader)  # noqa: S506 - a SafeLoader


def load_all(text: str) -> list:
    return [doc for doc in yaml.load_all(text, Loader=PlainLoader) if doc is not None]
