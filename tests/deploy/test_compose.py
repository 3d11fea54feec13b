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
from dataclasses import fields
from pathlib import Path

import pytest

from services.common.settings import SECRETS, USED_BY, Settings, env_name
from tests.deploy import load

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"

SERVICES = ("intake", "routing", "sla", "notify", "rating")
JIESU = SERVICES + ("gateway",)
METRICS_PORTS = {"intake": 9101, "routing": 9102, "sla": 9103, "notify": 9104, "rating": 9105,
                 "gateway": 9106}
INFRA = ("postgres", "rabbitmq", "redis", "prometheus", "grafana")
VOLUMES = ("postgres-data", "rabbitmq-data", "attachments", "prometheus-data", "grafana-data")
FAKE_ENV = {"POSTGRES_PASSWORD": "pg-secret", "RABBITMQ_PASSWORD": "mq-secret",
            "JIESU_JWT_SECRET": "jwt-secret", "GRAFANA_ADMIN_PASSWORD": "gf-secret",
            "JIESU_CALLER_PSEUDONYM_KEY": "pseudonym-key"}
# The channels' settings, by the process that reads them (README.md, "Configuration"). Each
# channel is optional: empty (or unset) turns it off, so these default to empty in .env.
CHANNEL_SETTINGS = {
    "gateway": ("JIESU_WECHAT_TOKEN", "JIESU_WECHAT_AES_KEY", "JIESU_WECHAT_APP_ID",
                "JIESU_WECHAT_CASE_LINK", "JIESU_HOTLINE_WEBHOOK_SECRETS",
                "JIESU_OPEN311_API_KEYS"),
    "notify": ("JIESU_WECHAT_APP_ID", "JIESU_WECHAT_APP_SECRET", "JIESU_WECHAT_API_BASE",
               "JIESU_WECHAT_TEMPLATE_ID", "JIESU_WECHAT_CASE_LINK", "JIESU_SMS_BASE_URL",
               "JIESU_SMS_ACCOUNT", "JIESU_SMS_SECRET"),
}
CHANNEL_SECRETS = ("JIESU_WECHAT_TOKEN", "JIESU_WECHAT_AES_KEY", "JIESU_WECHAT_APP_SECRET",
                   "JIESU_HOTLINE_WEBHOOK_SECRETS", "JIESU_OPEN311_API_KEYS",
                   "JIESU_SMS_SECRET", "JIESU_CALLER_PSEUDONYM_KEY")


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
    for name in SERVICES + ("redis",):
        assert gateway["depends_on"][name] == {"condition": "service_healthy"}
    assert any(str(port).endswith(":8000") for port in gateway["ports"])
    assert gateway["environment"]["JIESU_GATEWAY_HOST"] == "0.0.0.0"
    attachments = gateway["environment"]["JIESU_ATTACHMENTS_DIR"]
    assert f"attachments:{attachments}" in gateway["volumes"]


@pytest.mark.parametrize("name", JIESU + ("migrate",))
def test_each_jiesu_process_gets_its_settings(services, name):
    env = environment_of(services, name, FAKE_ENV)
    if "amqp_uri" in USED_BY[name]:
        assert env["JIESU_AMQP_URI"] == "amqp://jiesu:mq-secret@rabbitmq:5672/"
        assert env["JIESU_LOG_JSON"] == "true"
        assert env["JIESU_METRICS_HOST"] == "0.0.0.0"
    if "database_url" in USED_BY[name]:
        assert env["JIESU_DATABASE_URL"] == (
            "postgresql+psycopg2://jiesu:pg-secret@postgres:5432/jiesu_{service}")
    if "timezone" in USED_BY[name]:
        assert env["JIESU_TIMEZONE"] == "Asia/Shanghai"
    assert "JIESU_CLOCK_OFFSET_FILE" not in env, "tests and demos only"
    # Secrets come from .env, never from the file itself.
    raw = services[name]["environment"]
    if "jwt_secret" in USED_BY[name]:
        assert raw["JIESU_JWT_SECRET"].startswith("${JIESU_JWT_SECRET:?")


# Where each secret of .env ends up: the setting that carries it.
SECRET_CARRIED_BY = {"POSTGRES_PASSWORD": "database_url", "RABBITMQ_PASSWORD": "amqp_uri"} | {
    env_name(setting): setting for setting in SECRETS}


def settings_given(services, name) -> set[str]:
    """The settings compose gives the process `name` (its JIESU_* variables)."""
    settings = {env_name(f.name): f.name for f in fields(Settings)}
    given = {var for var in services[name]["environment"] if var.startswith("JIESU_")}
    assert given <= set(settings), f"{name}: not settings: {sorted(given - set(settings))}"
    return {settings[var] for var in given}


@pytest.mark.parametrize("name", JIESU + ("migrate",))
def test_each_process_gets_exactly_the_secrets_it_reads_and_no_setting_it_does_not(services,
                                                                                   name):
    """USED_BY (services/common/settings.py) is the map: the WeChat AppSecret and the SMS
    key only in notify, the JWT secret and the channels' webhooks only in the gateway, the
    pseudonym key only in intake, the database password nowhere near the gateway."""
    given = settings_given(services, name)
    assert given <= USED_BY[name], f"{name} does not read {sorted(given - USED_BY[name])}"
    assert given & SECRETS == USED_BY[name] & SECRETS
    # Each secret's value, as .env would give it, reaches only the processes that read the
    # setting carrying it (a password inside a URL included).
    env = {var: f"value-of-{var}" for var in SECRET_CARRIED_BY} | {
        "JIESU_HOTLINE_WEBHOOK_SECRETS": '["value-of-JIESU_HOTLINE_WEBHOOK_SECRETS"]'}
    values = " ".join(environment_of(services, name, env).values())
    holds = {SECRET_CARRIED_BY[var] for var in SECRET_CARRIED_BY if f"value-of-{var}" in values}
    assert holds == USED_BY[name] & SECRETS


def environment_of(services, name, env) -> dict[str, str]:
    return {key: interpolate(str(value), env)
            for key, value in services[name]["environment"].items()}


def test_the_gateway_keeps_wechat_sessions_in_the_redis_service(services):
    """Several gateway processes must share a WeChat user's dialogue state: in Redis."""
    from urllib.parse import urlparse

    from gateway.sessions import RedisSessions, sessions_for

    gateway = services["gateway"]
    url = environment_of(services, "gateway", FAKE_ENV)["JIESU_GATEWAY_STATE_URL"]
    assert url == "redis://redis:6379/0"
    parsed = urlparse(url)
    assert parsed.hostname in services and parsed.hostname == "redis"
    command = services["redis"]["command"]
    port = int(command[command.index("--port") + 1]) if "--port" in command else 6379
    assert parsed.port == port
    assert gateway["depends_on"]["redis"] == {"condition": "service_healthy"}
    # The gateway's own code accepts the URL (no connection is made here).
    sessions = sessions_for(url)
    assert isinstance(sessions, RedisSessions)
    kwargs = sessions.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis", 6379, 0)
    for name in JIESU + ("migrate",):
        if name != "gateway":
            assert "JIESU_GATEWAY_STATE_URL" not in services[name]["environment"], name


def test_redis_keeps_nothing_and_is_reachable_only_inside(services):
    redis = services["redis"]
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+-alpine", redis["image"]), "pin an exact version"
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--save") + 1] == "", "no snapshots"
    assert command[command.index("--appendonly") + 1] == "no", "no append-only file"
    assert command[command.index("--maxmemory-policy") + 1] == "volatile-ttl"
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    for key in ("interval", "timeout", "retries"):
        assert key in redis["healthcheck"], key
    assert redis["restart"] == "unless-stopped"
    assert "ports" not in redis, "Redis has no password: never publish it"
    assert "volumes" not in redis, "nothing to persist"
    assert redis["read_only"] is True and "/data" in redis["tmpfs"]
    assert redis["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in redis["security_opt"]
    user = str(redis["user"]).split(":")[0]
    assert user.isdigit() and user != "0", "runs as the image's redis user, not root"


@pytest.mark.parametrize("name", sorted(CHANNEL_SETTINGS))
def test_channel_settings_reach_the_processes_that_use_them(services, name):
    raw = services[name]["environment"]
    for var in CHANNEL_SETTINGS[name]:
        assert re.fullmatch(rf"\$\{{{var}:-[^}}]*\}}", raw[var]), \
            f"{name}: {var} comes from .env, optional"
    assert "JIESU_CALLER_PSEUDONYM_KEY" in services["intake"]["environment"]


def test_channel_secrets_are_never_written_in_the_file(services):
    for name, service in services.items():
        for var, value in (service.get("environment") or {}).items():
            if var in CHANNEL_SECRETS:
                assert re.fullmatch(rf"\$\{{{var}(:-|:\?[^}}]*)\}}", str(value)), \
                    f"{name}: {var} may default to empty (off) only, or be required"


def test_unset_channels_are_off_and_set_ones_parse(services):
    """What the processes make of the environment compose gives them (Settings.load)."""
    from services.common.settings import Settings

    defaults = Settings()
    off = {name: Settings.load(environ=environment_of(services, name, FAKE_ENV))
           for name in ("gateway", "notify", "intake")}
    assert off["gateway"].wechat_token == "" and off["gateway"].hotline_webhook_secrets == ()
    assert off["gateway"].open311_api_keys == ()
    assert off["gateway"].max_body_bytes == defaults.max_body_bytes
    assert off["gateway"].gateway_state_url == "redis://redis:6379/0"
    assert off["notify"].wechat_app_secret == "" and off["notify"].sms_base_url == ""
    assert off["notify"].wechat_api_base == defaults.wechat_api_base
    assert off["intake"].caller_pseudonym_key == "pseudonym-key"
    assert off["intake"].caller_pseudonym_key != defaults.caller_pseudonym_key
    channels = dict(FAKE_ENV, JIESU_WECHAT_TOKEN="tok", JIESU_HOTLINE_WEBHOOK_SECRETS='["a", "b"]',
                    JIESU_OPEN311_API_KEYS='["app:key"]', JIESU_SMS_BASE_URL="https://sms.example",
                    JIESU_WECHAT_APP_SECRET="app-secret", JIESU_WECHAT_TEMPLATE_ID="tpl")
    on = {name: Settings.load(environ=environment_of(services, name, channels))
          for name in ("gateway", "notify")}
    assert on["gateway"].wechat_token == "tok"
    assert on["gateway"].hotline_webhook_secrets == ("a", "b")
    assert on["gateway"].open311_api_keys == ("app:key",)
    assert on["notify"].sms_base_url == "https://sms.example"
    assert (on["notify"].wechat_app_secret, on["notify"].wechat_template_id) == (
        "app-secret", "tpl")


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
