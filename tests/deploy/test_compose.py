"""docker-compose.yml and the Dockerfile, checked by reading them.

Docker cannot run on the development machines or in CI, so nothing here builds an image or
starts a container: the files are parsed and their structure asserted (every service, its
image, health check, restart policy, dependencies, volumes and ports). When a `docker compose`
client is on the PATH, `docker compose config` also checks the file against Compose's schema.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import load

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"

SERVICES = ("intake", "routing", "sla", "notify", "rating")
JIESU = SERVICES + ("gateway",)
METRICS_PORTS = {"intake": 9101, "routing": 9102, "sla": 9103, "notify": 9104, "rating": 9105,
                 "gateway": 9106}
INFRA = ("postgres", "rabbitmq", "prometheus", "grafana")
VOLUMES = ("postgres-data", "rabbitmq-data", "attachments", "prometheus-data", "grafana-data")
FAKE_ENV = {"POSTGRES_PASSWORD": "pg-secret", "RABBITMQ_PASSWORD": "mq-secret",
            "JIESU_JWT_SECRET": "jwt-secret", "GRAFANA_ADMIN_PASSWORD": "gf-secret"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def interpolate(value: str, env: dict) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}; fails on anything else."""
    def replace(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if op == ":?" and not env.get(name):
            raise KeyError(f"{name} is required: {arg}")
        return env.get(name) or (arg if op == ":-" else "")

    result = re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", replace, value)
    assert "$" not in result.replace("$$", ""), f"unknown interpolation in {value!r}"
    return result


def healthcheck_url(service: dict) -> str:
    test = service["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*?)['\"\s]", text + " ")
    assert match, f"no URL in health check {test}"
    return f":{match.group(1)}{match.group(2)}"


# ------------------------------------------------------------------------------- compose
def test_every_service_is_there(services):
    assert set(services) == set(JIESU) | set(INFRA) | {"migrate"}


def test_jiesu_services_are_built_from_the_one_dockerfile(services):
    images = set()
    for name in JIESU + ("migrate",):
        build = services[name]["build"]
        assert build["context"] == "." and build["dockerfile"] == "Dockerfile", name
        images.add(services[name]["image"])
    assert len(images) == 1, f"one image for every jiesu process, got {images}"
    assert (REPO / "Dockerfile").is_file()


@pytest.mark.parametrize("name", JIESU)
def test_each_jiesu_service_runs_itself_with_health_check_and_restart_policy(services, name):
    service = services[name]
    assert service["command"] == [name]
    assert "entrypoint" not in service, "the image's entrypoint runs services.common.runner"
    assert service["restart"] == "unless-stopped"
    assert healthcheck_url(service) == f":{METRICS_PORTS[name]}/readyz"
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in service["healthcheck"], (name, key)


@pytest.mark.parametrize("name", JIESU)
def test_each_jiesu_service_waits_for_broker_database_and_migrations(services, name):
    depends = services[name]["depends_on"]
    assert depends["postgres"] == {"condition": "service_healthy"}
    assert depends["rabbitmq"] == {"condition": "service_healthy"}
    assert depends["migrate"] == {"condition": "service_completed_successfully"}


def test_the_gateway_waits_for_every_service_and_publishes_the_api(services):
    gateway = services["gateway"]
    for name in SERVICES:
        assert gateway["depends_on"][name] == {"condition": "service_healthy"}
    assert any(str(port).endswith(":8000") for port in gateway["ports"])
    assert gateway["environment"]["JIESU_GATEWAY_HOST"] == "0.0.0.0"
    attachments = gateway["environment"]["JIESU_ATTACHMENTS_DIR"]
    assert f"attachments:{attachments}" in gateway["volumes"]


@pytest.mark.parametrize("name", JIESU + ("migrate",))
def test_each_jiesu_process_gets_its_settings(services, name):
    env = {key: interpolate(str(value), FAKE_ENV)
           for key, value in services[name]["environment"].items()}
    assert env["JIESU_AMQP_URI"] == "amqp://jiesu:mq-secret@rabbitmq:5672/"
    assert env["JIESU_DATABASE_URL"] == (
        "postgresql+psycopg2://jiesu:pg-secret@postgres:5432/jiesu_{service}")
    assert env["JIESU_JWT_SECRET"] == "jwt-secret"
    assert env["JIESU_LOG_JSON"] == "true"
    assert env["JIESU_METRICS_HOST"] == "0.0.0.0"
    assert "JIESU_CLOCK_OFFSET_FILE" not in env, "tests and demos only"
    # Secrets come from .env, never from the file itself.
    raw = services[name]["environment"]
    assert raw["JIESU_JWT_SECRET"].startswith("${JIESU_JWT_SECRET:?")


def test_secrets_are_required_not_defaulted(compose):
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for name in FAKE_ENV:
        assert re.search(rf"\$\{{{name}:\?", text), name
        assert not re.search(rf"\$\{{{name}:-", text), f"{name} must not have a default"
    with pytest.raises(KeyError):
        interpolate(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"], {})


def test_every_interpolation_is_well_formed():
    for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("#"):
            interpolate(line, FAKE_ENV)


def test_migrate_runs_once_before_the_services(services):
    migrate = services["migrate"]
    assert migrate["entrypoint"] == ["python", "-m", "services.common.migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert migrate["healthcheck"] == {"disable": True}


def test_postgres(services):
    postgres = services["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+[\w.-]*", postgres["image"])
    assert postgres["environment"]["POSTGRES_USER"] == "jiesu"
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["restart"] == "unless-stopped"


def test_rabbitmq_has_management_and_prometheus_plugins(compose, services):
    rabbitmq = services["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.13\.\d+-management", rabbitmq["image"])
    assert rabbitmq["hostname"] == "rabbitmq", "the node name must stay the same"
    (mount,) = rabbitmq["configs"]
    assert mount["target"] == "/etc/rabbitmq/enabled_plugins"
    plugins = compose["configs"][mount["source"]]["content"]
    assert re.fullmatch(r"\[[\w,]+\]\.\s*", plugins), "an Erlang list term"
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(plugins.strip("[].\n").split(","))
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"]
    assert "rabbitmq-diagnostics" in rabbitmq["healthcheck"]["test"]
    assert rabbitmq["environment"]["RABBITMQ_DEFAULT_USER"] == "jiesu"
    assert rabbitmq["restart"] == "unless-stopped"


def test_prometheus_and_grafana_mount_the_shared_configuration(services):
    prometheus = services["prometheus"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in prometheus["volumes"]
    assert "prometheus-data:/prometheus" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    grafana = services["grafana"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    assert "grafana-data:/var/lib/grafana" in grafana["volumes"]
    assert grafana["depends_on"]["prometheus"] == {"condition": "service_healthy"}
    for service in (prometheus, grafana):
        assert service["restart"] == "unless-stopped"
        assert "healthcheck" in service


def test_every_long_running_container_has_a_health_check_and_restarts(services):
    for name, service in services.items():
        if name == "migrate":
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), name


def test_named_volumes_are_declared_and_used(compose, services):
    assert set(compose["volumes"]) == set(VOLUMES)
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == set(VOLUMES)


def test_dependencies_name_real_services_and_have_no_cycle(services):
    def visit(name, path):
        assert name not in path, f"dependency cycle {path + [name]}"
        for dep in services[name].get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
            visit(dep, path + [name])

    for name in services:
        visit(name, [])


def test_ports_published_only_where_meant(services):
    published = {name: [str(port) for port in service.get("ports", [])]
                 for name, service in services.items() if service.get("ports")}
    assert set(published) == {"gateway", "rabbitmq", "prometheus", "grafana"}
    for name in ("rabbitmq", "prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in published[name]), name
    assert published["rabbitmq"] == ["127.0.0.1:15672:15672"]
    assert published["prometheus"] == ["127.0.0.1:9090:9090"]
    assert published["grafana"] == ["127.0.0.1:3000:3000"]


def test_images_are_pinned(services):
    for name in INFRA:
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image
        assert re.search(r":v?\d+\.\d+", image), f"{image}: pin an exact version"


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker client")
def test_docker_compose_config_accepts_the_file(tmp_path):
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("no docker compose plugin")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in FAKE_ENV.items()))
    result = subprocess.run(
        ["docker", "compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE),
         "config", "--quiet"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------ Dockerfile
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def stages() -> list[dict]:
    result = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            result.append({"image": match.group(1), "name": match.group(2), "steps": []})
        else:
            result[-1]["steps"].append((keyword, rest))
    return result


def test_dockerfile_is_multi_stage_with_a_pinned_base():
    found = stages()
    assert [stage["name"] for stage in found] == ["builder", "runtime"]
    for stage in found:
        image = stage["image"]
        assert not image.endswith(":latest") and ":" in image
        pinned_digest = re.search(r"@sha256:[0-9a-f]{64}$", image)
        pinned_tag = re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image.split("@")[0])
        assert pinned_tag or pinned_digest, f"{image}: pin an exact tag or a digest"
        assert pinned_tag, "Python 3.11, as pyproject.toml requires"
    assert found[0]["image"] == found[1]["image"], "both stages on the same base"


def test_runtime_stage_takes_the_venv_and_no_build_tools():
    builder, runtime = stages()
    assert any(k == "RUN" and "pip install" in r for k, r in builder["steps"])
    copies = [r for k, r in runtime["steps"] if k == "COPY"]
    assert any(r.startswith("--from=builder /opt/venv") for r in copies)
    runs = " ".join(r for k, r in runtime["steps"] if k == "RUN")
    for tool in ("pip install", "apt-get install", "gcc", "build-essential", "git"):
        assert tool not in runs, f"{tool} in the runtime stage"
    for source in ("config", "gateway", "services", "pyproject.toml"):
        assert any(r.split()[0] == source for r in copies), source
        assert (REPO / source).exists()


def test_runtime_runs_as_a_non_root_user():
    _, runtime = stages()
    users = [r for k, r in runtime["steps"] if k == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "numeric, so Kubernetes' runAsNonRoot can check it"


def test_entrypoint_runs_the_runner_and_healthcheck_hits_healthz():
    _, runtime = stages()
    steps = dict(runtime["steps"])
    assert json.loads(steps["ENTRYPOINT"]) == ["python", "-m", "services.common.runner"]
    assert json.loads(steps["CMD"])[0] in JIESU
    health = steps["HEALTHCHECK"]
    command = json.loads(health[health.index("CMD") + 3:].strip())
    assert command[:2] == ["python", "-c"]
    ast.parse(command[2])
    assert "/healthz" in command[2]
    exposed = {int(port) for port in steps["EXPOSE"].split()}
    assert exposed == {8000} | set(METRICS_PORTS.values())


def test_healthcheck_finds_the_process_on_its_metrics_port(tmp_path):
    """Run the HEALTHCHECK's own code against a tiny server on a metrics port."""
    import http.server
    import os
    import socket
    import threading

    _, runtime = stages()
    health = dict(runtime["steps"])["HEALTHCHECK"]
    code = json.loads(health[health.index("CMD") + 3:].strip())[2]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    with socket.socket() as probe:  # a free base port whose +3 is free too, as for sla
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1] - 3
    try:
        server = http.server.HTTPServer(("127.0.0.1", base + 3), Handler)
    except OSError:
        pytest.skip("port taken")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = dict(os.environ, JIESU_METRICS_PORT=str(base))
        alive = subprocess.run([sys.executable, "-c", code], env=env, timeout=60)
        assert alive.returncode == 0
    finally:
        server.shutdown()
        server.server_close()
    dead = subprocess.run([sys.executable, "-c", code], env=env, timeout=60)
    assert dead.returncode == 1


def test_dockerignore_keeps_the_context_small():
    ignored = set((REPO / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", "data", "tests", ".env"} <= ignored
    for needed in ("config", "gateway", "services", "pyproject.toml"):
        assert needed not in ignored


def test_deploy_doc_says_how_these_files_are_checked():
    doc = (REPO / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    assert "Docker cannot run on the development machines" in doc
    for name in ("tests/deploy", "docker compose up", "kubectl apply -k k8s/", "KEDA",
                 "CloudNativePG", "RabbitMQ cluster operator", "Scaling each service"):
        assert name in doc, name
