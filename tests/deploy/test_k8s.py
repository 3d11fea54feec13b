"""k8s/: the Kubernetes manifests, checked without a cluster.

Built-in kinds are validated strictly against the Kubernetes OpenAPI schemas that the
kubernetes-validate package ships (offline). The operators' kinds (RabbitmqCluster,
CloudNativePG Cluster and Database, KEDA ScaledObject and TriggerAuthentication, Prometheus
operator PodMonitor) are not in those schemas, so their structure is checked by hand. Redis
(the gateway's WeChat sessions) is infrastructure, not a jiesu process: a plain Deployment and
Service, checked on its own. The resources are gathered from kustomization.yaml the way
kustomize does; when kubectl is on the PATH, `kubectl kustomize` also builds them (with and
without the optional components).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlparse

import kubernetes_validate
import pytest

from services.common.settings import SECRETS, USED_BY, Settings, env_name
from tests.deploy import load, load_all

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
KUBERNETES_VERSION = "1.32.0"
NAMESPACE = "jiesu"

SERVICES = ("intake", "routing", "sla", "notify", "rating")
JIESU = SERVICES + ("gateway",)
METRICS_PORTS = {"intake": 9101, "routing": 9102, "sla": 9103, "notify": 9104, "rating": 9105,
                 "gateway": 9106}
BUILTIN_API_VERSIONS = {"v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1"}
COMPONENTS = ("keda", "prometheus-operator")
# Deployments that are infrastructure, not jiesu processes (no metrics port, no HPA, their own
# image): Redis for the gateway's WeChat sessions.
INFRA_DEPLOYMENTS = ("redis",)
ALL_DEPLOYMENTS = JIESU + INFRA_DEPLOYMENTS


# --------------------------------------------------------------------------------- loading
def gather(directory: Path) -> list[dict]:
    """The resources of a kustomization (or component): its files and directories, with the
    namespace set as kustomize sets it."""
    kustomization = load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    objects = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects += gather(path)
        else:
            objects += load_all(path.read_text(encoding="utf-8"))
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] != "Namespace":
                obj["metadata"]["namespace"] = namespace
    return objects


def by_kind(objects, kind) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return gather(K8S)


@pytest.fixture(scope="module")
def components() -> dict[str, list[dict]]:
    return {name: gather(K8S / "components" / name) for name in COMPONENTS}


def pod_labels(deployment) -> dict:
    return deployment["spec"]["template"]["metadata"]["labels"]


def is_jiesu_process(deployment) -> bool:
    return pod_labels(deployment).get("app.kubernetes.io/name") == "jiesu"


@pytest.fixture(scope="module")
def all_deployments(base) -> dict[str, dict]:
    return by_kind(base, "Deployment")


@pytest.fixture(scope="module")
def deployments(all_deployments) -> dict[str, dict]:
    """The jiesu processes' Deployments (the one image), not the infrastructure's."""
    return {name: obj for name, obj in all_deployments.items() if is_jiesu_process(obj)}


@pytest.fixture(scope="module")
def redis(all_deployments) -> dict:
    return all_deployments["redis"]


@pytest.fixture(scope="module")
def config(base) -> dict[str, str]:
    return by_kind(base, "ConfigMap")["jiesu-config"]["data"]


@pytest.fixture(scope="module")
def example_secrets() -> dict[str, dict]:
    return by_kind(load_all((K8S / "secrets.example.yaml").read_text(encoding="utf-8")),
                   "Secret")


def pod_spec(deployment) -> dict:
    return deployment["spec"]["template"]["spec"]


def all_containers(deployment) -> list[dict]:
    spec = pod_spec(deployment)
    return spec.get("initContainers", []) + spec["containers"]


def main_container(deployment) -> dict:
    (container,) = pod_spec(deployment)["containers"]
    return container


def named_port(container, name) -> int:
    return {port["name"]: port["containerPort"] for port in container["ports"]}[name]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# ------------------------------------------------------------------------- the kustomization
def test_kustomization_lists_every_manifest():
    listed = set()
    for directory in [K8S] + [K8S / "components" / name for name in COMPONENTS]:
        kustomization = load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
        listed |= {(directory / entry).resolve() for entry in kustomization["resources"]}
    on_disk = {path.resolve() for path in K8S.rglob("*.yaml")
               if path.name not in ("kustomization.yaml", "secrets.example.yaml")}
    assert on_disk == listed


def test_base_holds_what_a_deployment_needs(base):
    kinds = {obj["kind"] for obj in base}
    assert {"Namespace", "ConfigMap", "Deployment", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "Service", "NetworkPolicy", "PersistentVolumeClaim",
            "RabbitmqCluster", "Cluster", "Database"} <= kinds
    names = [(obj["kind"], obj["metadata"]["name"]) for obj in base]
    assert len(names) == len(set(names)), "duplicate resources"
    assert all(obj["metadata"].get("namespace") == NAMESPACE
               for obj in base if obj["kind"] != "Namespace")


# ------------------------------------------------------------------ schemas of built-in kinds
def test_builtin_kinds_are_valid_against_the_kubernetes_schemas(base, components,
                                                                 example_secrets):
    objects = base + [obj for objs in components.values() for obj in objs]
    objects += list(example_secrets.values())
    checked = 0
    for obj in objects:
        if obj["apiVersion"] not in BUILTIN_API_VERSIONS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
        checked += 1
    assert checked >= 25


def test_strict_validation_would_catch_a_misspelt_field(deployments):
    import copy

    broken = copy.deepcopy(deployments["intake"])
    main_container(broken)["readinesProbe"] = main_container(broken).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


# ---------------------------------------------------------------------------- Deployments
def test_one_deployment_per_process(deployments, all_deployments):
    assert set(deployments) == set(JIESU)
    assert set(all_deployments) == set(ALL_DEPLOYMENTS), "and Redis, as infrastructure"


@pytest.mark.parametrize("name", JIESU)
def test_deployment_runs_the_service_from_the_one_image(deployments, name):
    deployment = deployments[name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    assert labels["app.kubernetes.io/component"] == name
    container = main_container(deployment)
    assert container["image"] == "jiesu:0.1.0"
    assert container["args"] == [name]
    assert "command" not in container, "the image's entrypoint runs services.common.runner"
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


@pytest.mark.parametrize("name", JIESU)
def test_probes_hit_the_metrics_port(deployments, name):
    container = main_container(deployments[name])
    assert named_port(container, "metrics") == METRICS_PORTS[name]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path, (name, probe)
        port = get["port"]
        assert (named_port(container, port) if isinstance(port, str) else port) == \
            METRICS_PORTS[name], (name, probe)


def test_gateway_serves_the_api_on_8000(deployments, config):
    container = main_container(deployments["gateway"])
    assert named_port(container, "http") == 8000
    assert config["JIESU_GATEWAY_HOST"] == "0.0.0.0"
    assert config["JIESU_GATEWAY_PORT"] == "8000"


@pytest.mark.parametrize("name", ALL_DEPLOYMENTS)
def test_every_container_has_requests_and_limits(all_deployments, name):
    for container in all_containers(all_deployments[name]):
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), \
                (name, container["name"], bound)


@pytest.mark.parametrize("name", ALL_DEPLOYMENTS)
def test_every_container_runs_as_non_root(all_deployments, name):
    spec = pod_spec(all_deployments[name])
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    for container in all_containers(all_deployments[name]):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context.get("runAsUser", spec["securityContext"]["runAsUser"]) != 0
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        writable = "/data" if name == "redis" else "/tmp"
        assert writable in mounts, f"a writable {writable} under a read-only root"


@pytest.mark.parametrize("name", JIESU)
def test_settings_come_from_the_configmap_and_secrets(deployments, config, example_secrets,
                                                      name):
    secret_keys = {secret: set(obj["stringData"]) for secret, obj in example_secrets.items()}
    secret_keys["jiesu-rabbitmq-default-user"] = {"username", "password"}  # the operator's
    for container in all_containers(deployments[name]):
        assert "envFrom" not in container, \
            f"{name}: envFrom hands the process every key; name the ones it reads"
        defined, env = set(), {}
        for var in container["env"]:
            source = var.get("valueFrom", {})
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                assert ref == {"name": "jiesu-config", "key": var["name"]}, (name, var)
                assert ref["key"] in config, f"{name}: {ref['key']} is not in jiesu-config"
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                assert ref["key"] in secret_keys[ref["name"]], (name, var["name"])
            else:
                for used in re.findall(r"\$\((\w+)\)", var["value"]):
                    assert used in defined, f"{name}: $({used}) is not defined before use"
                env[var["name"]] = var["value"]
            defined.add(var["name"])
        process = "migrate" if container["name"] == "migrate" else name
        if "amqp_uri" in USED_BY[process]:
            assert env["JIESU_AMQP_URI"].startswith("amqp://$(RABBITMQ_USERNAME):")
        if "database_url" in USED_BY[process]:
            assert env["JIESU_DATABASE_URL"].startswith("postgresql+psycopg2://")
            assert env["JIESU_DATABASE_URL"].endswith("/jiesu_{service}")
        assert "JIESU_CLOCK_OFFSET_FILE" not in defined and "JIESU_CLOCK_OFFSET_FILE" not in config


@pytest.mark.parametrize("name", JIESU)
def test_each_process_gets_exactly_the_secrets_it_reads_and_no_setting_it_does_not(deployments,
                                                                                   name):
    """USED_BY (services/common/settings.py) is the map, for each main container and each
    migrate init container: the WeChat AppSecret and the SMS key only in notify, the JWT
    secret and the channels' webhooks only in the gateway, the pseudonym key only in intake,
    the database password nowhere near the gateway, the broker's nowhere near migrate."""
    settings = {env_name(f.name): f.name for f in fields(Settings)}
    for container in all_containers(deployments[name]):
        process = "migrate" if container["name"] == "migrate" else name
        names = {var["name"] for var in container["env"]}
        jiesu = {var for var in names if var.startswith("JIESU_")}
        assert jiesu <= set(settings), f"{process}: not settings: {sorted(jiesu - set(settings))}"
        given = {settings[var] for var in jiesu}
        unread = given - USED_BY[process]
        assert not unread, f"{process} does not read {sorted(unread)}"
        assert given & SECRETS == USED_BY[process] & SECRETS
        refs = {(ref["name"], ref["key"]) for ref in (
            var.get("valueFrom", {}).get("secretKeyRef") for var in container["env"]) if ref}
        expected = {("jiesu-secrets", env_name(setting))
                    for setting in USED_BY[process] & SECRETS - {"amqp_uri", "database_url"}}
        if "amqp_uri" in USED_BY[process]:
            expected |= {("jiesu-rabbitmq-default-user", "username"),
                         ("jiesu-rabbitmq-default-user", "password")}
        if "database_url" in USED_BY[process]:
            expected.add(("jiesu-db-credentials", "password"))
        assert refs == expected, process


# Settings that are secrets: in the Secret jiesu-secrets, never in the ConfigMap.
SECRET_SETTINGS = ("JIESU_JWT_SECRET", "JIESU_CALLER_PSEUDONYM_KEY", "JIESU_WECHAT_TOKEN",
                   "JIESU_WECHAT_AES_KEY", "JIESU_WECHAT_APP_SECRET",
                   "JIESU_HOTLINE_WEBHOOK_SECRETS", "JIESU_OPEN311_API_KEYS", "JIESU_SMS_SECRET")
# The channels' other settings: in the ConfigMap.
CHANNEL_CONFIG = ("JIESU_GATEWAY_STATE_URL", "JIESU_WECHAT_APP_ID", "JIESU_WECHAT_API_BASE",
                  "JIESU_WECHAT_TEMPLATE_ID", "JIESU_WECHAT_CASE_LINK", "JIESU_SMS_BASE_URL",
                  "JIESU_SMS_ACCOUNT", "JIESU_MAX_BODY_BYTES")


def test_configmap_settings_are_real_settings(config, example_secrets):
    from services.common.settings import Settings

    known = {f"JIESU_{name.upper()}" for name in Settings.__dataclass_fields__}
    jiesu = {key for key in config if key.startswith("JIESU_")}
    assert jiesu <= known, f"not settings: {sorted(jiesu - known)}"
    secret = set(example_secrets["jiesu-secrets"]["stringData"])
    assert secret <= known, f"not settings: {sorted(secret - known)}"
    assert config["JIESU_LOG_JSON"] == "true"
    assert config["JIESU_METRICS_HOST"] == "0.0.0.0"


def test_channel_settings_are_split_between_configmap_and_secret(config, example_secrets):
    secret = set(example_secrets["jiesu-secrets"]["stringData"])
    assert not set(config) & secret, "a key in both: the Secret (later in envFrom) would win"
    assert set(SECRET_SETTINGS) <= secret
    assert not set(SECRET_SETTINGS) & set(config), "secrets never in the ConfigMap"
    assert set(CHANNEL_CONFIG) <= set(config)


def test_the_settings_the_pods_get_load_with_the_channels_off(config, example_secrets):
    """ConfigMap plus the example Secret, as envFrom gives them, through Settings.load."""
    from services.common.settings import Settings

    environ = dict(config) | example_secrets["jiesu-secrets"]["stringData"]
    settings = Settings.load(environ=environ)
    defaults = Settings()
    assert settings.gateway_state_url == "redis://redis:6379/0"
    assert settings.wechat_token == "" and settings.wechat_app_secret == ""
    assert settings.hotline_webhook_secrets == () and settings.open311_api_keys == ()
    assert settings.sms_base_url == "" and settings.wechat_api_base == defaults.wechat_api_base
    assert settings.max_body_bytes == defaults.max_body_bytes
    assert settings.caller_pseudonym_key != defaults.caller_pseudonym_key


@pytest.mark.parametrize("name, key", [("intake", "JIESU_CALLER_PSEUDONYM_KEY"),
                                       ("gateway", "JIESU_JWT_SECRET")])
def test_a_process_does_not_start_without_its_required_secret(deployments, example_secrets,
                                                               name, key):
    """The development value would otherwise be used: the Kubernetes form of compose's :?."""
    env = {var["name"]: var for var in main_container(deployments[name])["env"]}
    ref = env[key]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "jiesu-secrets" and ref["key"] == key
    assert not ref.get("optional", False)
    assert ref["key"] in example_secrets["jiesu-secrets"]["stringData"]


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_run_in_an_init_container(deployments, name):
    (init,) = pod_spec(deployments[name])["initContainers"]
    assert init["image"] == main_container(deployments[name])["image"]
    assert init["command"] == ["python", "-m", "services.common.migrate", name]


def test_the_gateway_has_no_database_to_migrate(deployments):
    assert "initContainers" not in pod_spec(deployments["gateway"])


@pytest.mark.parametrize("name", JIESU)
def test_pods_are_annotated_for_prometheus(deployments, name):
    annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(METRICS_PORTS[name])
    assert annotations["prometheus.io/path"] == "/metrics"


def test_metrics_ports_agree_with_the_code(config):
    """The ports above are metrics_port + the runner's offset for each process."""
    from services.common import runner
    from services.common.settings import Settings

    offsets = getattr(runner, "PORT_OFFSETS", None)
    if offsets is None or not hasattr(Settings, "metrics_port"):
        pytest.skip("the runner assigns no metrics ports")
    base = int(config["JIESU_METRICS_PORT"])
    assert {name: base + offsets[name] for name in JIESU} == METRICS_PORTS


def test_attachments_are_on_a_shared_volume(base, deployments, config):
    spec = pod_spec(deployments["gateway"])
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    claim = volumes["attachments"]["persistentVolumeClaim"]["claimName"]
    pvc = by_kind(base, "PersistentVolumeClaim")[claim]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "shared by every gateway replica"
    mounts = {m["name"]: m["mountPath"] for m in main_container(deployments["gateway"])
              ["volumeMounts"]}
    assert mounts["attachments"] == config["JIESU_ATTACHMENTS_DIR"]


# --------------------------------------------------------- autoscaling, disruption, Services
def test_one_autoscaler_per_deployment(base, deployments):
    hpas = by_kind(base, "HorizontalPodAutoscaler")
    assert set(hpas) == set(JIESU)
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert target["name"] in deployments
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["metrics"], name


def test_one_disruption_budget_per_deployment(base, deployments):
    pdbs = by_kind(base, "PodDisruptionBudget")
    assert set(pdbs) == set(JIESU)
    for name, pdb in pdbs.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
        assert pdb["spec"]["minAvailable"] == 1
        # No other Deployment's pods fall under this budget.
        for other, deployment in deployments.items():
            if other != name:
                assert not selects(pdb["spec"]["selector"]["matchLabels"],
                                   deployment["spec"]["template"]["metadata"]["labels"])


def test_the_gateway_service_serves_http(base, deployments):
    services = by_kind(base, "Service")
    assert set(services) == {"gateway", "redis"}, \
        "only the gateway serves HTTP to others; Redis serves the gateway"
    service = services["gateway"]
    labels = deployments["gateway"]["spec"]["template"]["metadata"]["labels"]
    assert selects(service["spec"]["selector"], labels)
    ports = {port["name"]: port for port in service["spec"]["ports"]}
    container = main_container(deployments["gateway"])
    assert named_port(container, ports["http"]["targetPort"]) == 8000
    assert named_port(container, ports["metrics"]["targetPort"]) == 9106


# ----------------------------------------------------------------------- NetworkPolicies
def allowed_ports(policies, labels) -> set[int]:
    ports = set()
    for policy in policies.values():
        if selects(policy["spec"]["podSelector"].get("matchLabels", {}), labels):
            for rule in policy["spec"].get("ingress", []):
                ports |= {port["port"] for port in rule.get("ports", [])}
    return ports


def test_network_policies_deny_by_default_and_open_what_is_used(base, deployments, config):
    policies = by_kind(base, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert METRICS_PORTS[name] in allowed_ports(policies, labels), name
    gateway_labels = deployments["gateway"]["spec"]["template"]["metadata"]["labels"]
    assert 8000 in allowed_ports(policies, gateway_labels)
    rabbitmq_pods = {"app.kubernetes.io/name": config["RABBITMQ_HOST"]}
    assert int(config["RABBITMQ_PORT"]) in allowed_ports(policies, rabbitmq_pods)
    postgres_pods = {"cnpg.io/cluster": config["DB_HOST"].removesuffix("-rw")}
    assert int(config["DB_PORT"]) in allowed_ports(policies, postgres_pods)
    intake_labels = deployments["intake"]["spec"]["template"]["metadata"]["labels"]
    for backend in ("rabbitmq", "postgres"):
        froms = [peer["podSelector"]["matchLabels"]
                 for rule in policies[backend]["spec"]["ingress"] for peer in rule.get("from", [])
                 if "podSelector" in peer]
        assert any(selects(selector, intake_labels) for selector in froms), backend


# --------------------------------------------------------- Redis: the WeChat sessions
def test_redis_is_one_pod_that_keeps_nothing(base, redis):
    from tests.deploy.test_compose import COMPOSE_FILE

    assert redis["spec"]["replicas"] == 1
    assert "redis" not in by_kind(base, "HorizontalPodAutoscaler"), "one instance, no scaling"
    container = main_container(redis)
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+-alpine", container["image"]), "pin a version"
    compose = load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert container["image"] == compose["services"]["redis"]["image"], "same Redis as compose"
    args = container["args"]
    assert args[0] == "redis-server"
    assert args[args.index("--save") + 1] == "", "no snapshots"
    assert args[args.index("--appendonly") + 1] == "no", "no append-only file"
    assert args[args.index("--maxmemory-policy") + 1] == "volatile-ttl"
    maxmemory = args[args.index("--maxmemory") + 1]
    assert re.fullmatch(r"\d+mb", maxmemory)
    limit = container["resources"]["limits"]["memory"]
    assert re.fullmatch(r"\d+Mi", limit)
    assert int(maxmemory[:-2]) * 10**6 < int(limit[:-2]) * 2**20 * 0.8, "room for overhead"
    volumes = {volume["name"]: volume for volume in pod_spec(redis)["volumes"]}
    assert all(set(volume) == {"name", "emptyDir"} for volume in volumes.values()), \
        "no persistent volume"
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/data"]]


def test_redis_is_probed_with_redis_cli(redis):
    container = main_container(redis)
    for probe in ("livenessProbe", "readinessProbe"):
        command = container[probe]["exec"]["command"]
        assert "redis-cli ping" in " ".join(command), probe
    assert named_port(container, "redis") == 6379


def test_redis_is_infrastructure_not_a_jiesu_process(base, redis, deployments):
    """Labelled apart, so that what selects the jiesu pods (metrics policy, PodMonitor,
    budgets, the backends' ingress rules) does not select it."""
    labels = pod_labels(redis)
    assert labels["app.kubernetes.io/part-of"] == "jiesu"
    assert labels["app.kubernetes.io/name"] == "redis"
    assert selects(redis["spec"]["selector"]["matchLabels"], labels)
    for deployment in deployments.values():
        assert not selects(redis["spec"]["selector"]["matchLabels"], pod_labels(deployment))
    assert not selects({"app.kubernetes.io/name": "jiesu"}, labels)
    for pdb in by_kind(base, "PodDisruptionBudget").values():
        assert not selects(pdb["spec"]["selector"]["matchLabels"], labels)


def test_the_gateway_reaches_redis_through_its_service(base, deployments, redis, config,
                                                       example_secrets):
    """Several gateway replicas (its HPA) share the WeChat sessions: the setting must name
    Redis, and the name must lead to the Redis pod's port."""
    from gateway.sessions import RedisSessions, sessions_for

    hpa = by_kind(base, "HorizontalPodAutoscaler")["gateway"]
    assert hpa["spec"]["maxReplicas"] > 1
    url = config["JIESU_GATEWAY_STATE_URL"]
    assert url, "empty keeps the sessions in one gateway process: wrong with several"
    parsed = urlparse(url)
    assert parsed.scheme == "redis"
    service = by_kind(base, "Service")[parsed.hostname]
    assert service["metadata"]["namespace"] == NAMESPACE, "a short name: the same namespace"
    assert selects(service["spec"]["selector"], pod_labels(redis))
    (port,) = [port for port in service["spec"]["ports"] if port["port"] == parsed.port]
    assert named_port(main_container(redis), port["targetPort"]) == 6379
    # The gateway gets the setting from the ConfigMap, and nothing overrides it.
    gateway = main_container(deployments["gateway"])
    (var,) = [var for var in gateway["env"] if var["name"] == "JIESU_GATEWAY_STATE_URL"]
    assert var["valueFrom"]["configMapKeyRef"] == {"name": "jiesu-config",
                                                   "key": "JIESU_GATEWAY_STATE_URL"}
    assert "JIESU_GATEWAY_STATE_URL" not in example_secrets["jiesu-secrets"]["stringData"]
    # And the gateway's own code accepts it (no connection is made here).
    sessions = sessions_for(url)
    assert isinstance(sessions, RedisSessions)
    kwargs = sessions.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"]) == (parsed.hostname, parsed.port)


def test_network_policies_let_only_the_gateway_reach_redis(base, deployments, redis, config):
    policies = by_kind(base, "NetworkPolicy")
    labels = pod_labels(redis)
    gateway_labels = pod_labels(deployments["gateway"])
    port = urlparse(config["JIESU_GATEWAY_STATE_URL"]).port
    assert allowed_ports(policies, labels) == {port}
    selecting = [policy for policy in policies.values()
                 if selects(policy["spec"]["podSelector"].get("matchLabels", {}), labels)
                 and policy["spec"]["podSelector"]]
    assert selecting, "a policy for Redis"
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            assert peers, "no rule open to every pod"
            for peer in peers:
                assert set(peer) == {"podSelector"}, "pods of this namespace only"
                selector = peer["podSelector"]["matchLabels"]
                assert selects(selector, gateway_labels)
                for name, deployment in deployments.items():
                    if name != "gateway":
                        assert not selects(selector, pod_labels(deployment)), name
    # Egress is left open; should a policy restrict the gateway's, it must allow Redis.
    for policy in policies.values():
        if "Egress" in policy["spec"]["policyTypes"] and selects(
                policy["spec"]["podSelector"].get("matchLabels", {}), gateway_labels):
            assert any(port in {p["port"] for p in rule.get("ports", [])}
                       for rule in policy["spec"].get("egress", [])), policy["metadata"]["name"]


# ------------------------------------------------------------- operators' kinds, by hand
def test_rabbitmq_comes_from_the_cluster_operator(base, config):
    (cluster,) = by_kind(base, "RabbitmqCluster").values()
    assert cluster["apiVersion"] == "rabbitmq.com/v1beta1"
    name = cluster["metadata"]["name"]
    assert config["RABBITMQ_HOST"] == name, "the operator's Service is named after the cluster"
    spec = cluster["spec"]
    assert spec["replicas"] >= 1
    assert re.fullmatch(r"rabbitmq:3\.13\.\d+-management", spec["image"])
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(
        spec["rabbitmq"]["additionalPlugins"])
    assert spec["persistence"]["storage"]
    assert {"cpu", "memory"} <= set(spec["resources"]["limits"])


def test_the_operator_secret_is_the_one_the_pods_read(base, deployments):
    (cluster,) = by_kind(base, "RabbitmqCluster").values()
    expected = f"{cluster['metadata']['name']}-default-user"
    for deployment in deployments.values():
        for container in all_containers(deployment):
            refs = {var["valueFrom"]["secretKeyRef"]["name"] for var in container["env"]
                    if var["name"].startswith("RABBITMQ_")
                    and "secretKeyRef" in var.get("valueFrom", {})}
            # The migrate init containers do not use the broker.
            assert refs == (set() if container["name"] == "migrate" else {expected})


def test_postgres_comes_from_cloudnativepg_with_a_database_per_service(base, config):
    (cluster,) = by_kind(base, "Cluster").values()
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    name = cluster["metadata"]["name"]
    assert config["DB_HOST"] == f"{name}-rw", "CloudNativePG's read-write Service"
    spec = cluster["spec"]
    assert spec["instances"] >= 1 and spec["storage"]["size"]
    initdb = spec["bootstrap"]["initdb"]
    assert initdb["owner"] == config["DB_USER"]
    assert initdb["secret"]["name"] == "jiesu-db-credentials"
    (role,) = spec["managed"]["roles"]
    assert role["name"] == config["DB_USER"] and role["createdb"] is True
    databases = by_kind(base, "Database")
    assert {db["spec"]["name"] for db in databases.values()} == {
        f"jiesu_{service}" for service in SERVICES}
    for db in databases.values():
        assert db["apiVersion"] == "postgresql.cnpg.io/v1"
        assert db["spec"]["cluster"]["name"] == name
        assert db["spec"]["owner"] == config["DB_USER"]


def test_the_db_credentials_secret_has_the_shape_cloudnativepg_wants(example_secrets):
    secret = example_secrets["jiesu-db-credentials"]
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert set(secret["stringData"]) == {"username", "password"}


# ------------------------------------------------------------------ optional: KEDA component
def nameko_queues(service: str) -> list[str]:
    return [f"rpc-{service}", f"evt-intake-complaint_received--{service}.handle"]


def test_keda_scales_each_service_on_its_own_queues(components, deployments):
    objects = components["keda"]
    scaled = by_kind(objects, "ScaledObject")
    assert set(scaled) == set(SERVICES)
    (auth,) = by_kind(objects, "TriggerAuthentication").values()
    params = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(params) == {"username", "password"}
    assert {ref["name"] for ref in params.values()} == {"jiesu-rabbitmq-default-user"}
    for name, obj in scaled.items():
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        spec = obj["spec"]
        assert spec["scaleTargetRef"]["name"] == name and name in deployments
        assert 2 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        triggers = {trigger["type"]: trigger for trigger in spec["triggers"]}
        assert set(triggers) == {"rabbitmq", "cpu"}
        rabbit = triggers["rabbitmq"]
        assert rabbit["authenticationRef"]["name"] == auth["metadata"]["name"]
        meta = rabbit["metadata"]
        assert meta["protocol"] == "http" and meta["useRegex"] == "true"
        assert meta["mode"] == "QueueLength" and float(meta["value"]) > 0
        assert meta["operation"] == "sum"
        # KEDA's operator runs in its own namespace: the host must name jiesu's.
        assert meta["host"] == f"http://jiesu-rabbitmq.{NAMESPACE}.svc:15672/"
        assert all(isinstance(value, str) for value in meta.values()), "KEDA wants strings"
        regex = re.compile(meta["queueName"])
        for other in SERVICES:
            for queue in nameko_queues(other):
                assert bool(regex.fullmatch(queue)) == (other == name), (name, queue)
            retry = f"evt-intake-complaint_received--{name}.handle"
            assert not regex.fullmatch(retry + ".retry.1")
            assert not regex.fullmatch(retry + ".parked")


def test_keda_component_replaces_the_plain_autoscalers(components):
    kustomization = load((K8S / "components" / "keda" / "kustomization.yaml")
                         .read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Component"
    (patch,) = kustomization["patches"]
    assert patch["target"]["kind"] == "HorizontalPodAutoscaler"
    deleted = {name for name in JIESU if re.fullmatch(patch["target"]["name"], name)}
    assert deleted == set(SERVICES), "the gateway keeps its HPA"
    assert "$patch: delete" in patch["patch"]


def test_podmonitors_select_the_pods_and_ports(components, deployments):
    monitors = by_kind(components["prometheus-operator"], "PodMonitor")
    jiesu = monitors["jiesu"]
    assert jiesu["apiVersion"] == "monitoring.coreos.com/v1"
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(jiesu["spec"]["selector"]["matchLabels"], labels)
        port = jiesu["spec"]["podMetricsEndpoints"][0]["port"]
        assert named_port(main_container(deployment), port)
    assert monitors["jiesu-rabbitmq"]["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "jiesu-rabbitmq"}
    assert monitors["jiesu-pg"]["spec"]["selector"]["matchLabels"] == {
        "cnpg.io/cluster": "jiesu-pg"}


# ------------------------------------------------------------------ kustomize, when present
def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


needs_kubectl = pytest.mark.skipif(not shutil.which("kubectl"), reason="no kubectl")


@needs_kubectl
def test_kubectl_kustomize_builds_the_same_resources(base):
    built = kustomize(K8S)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in built) == \
        sorted((o["kind"], o["metadata"]["name"]) for o in base)
    images = {c["image"] for o in built if o["kind"] == "Deployment" and is_jiesu_process(o)
              for c in all_containers(o)}
    assert len(images) == 1 and not images.pop().startswith("jiesu:"), "images: rewrites it"
    (redis,) = [o for o in built if o["kind"] == "Deployment" and o["metadata"]["name"] == "redis"]
    assert main_container(redis)["image"].startswith("redis:"), "Redis's image untouched"
    for obj in built:
        if obj["apiVersion"] in BUILTIN_API_VERSIONS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@needs_kubectl
def test_kubectl_kustomize_builds_with_every_component(tmp_path):
    """As docs/DEPLOY.md says to switch them on: uncomment them in k8s/kustomization.yaml."""
    import yaml

    shutil.copytree(K8S, tmp_path / "k8s")
    kustomization_file = tmp_path / "k8s" / "kustomization.yaml"
    text = kustomization_file.read_text(encoding="utf-8")
    assert all(f"#   - components/{name}" in text for name in COMPONENTS)
    kustomization = load(text)
    kustomization["components"] = [f"components/{name}" for name in COMPONENTS]
    kustomization_file.write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    built = kustomize(tmp_path / "k8s")
    assert set(by_kind(built, "HorizontalPodAutoscaler")) == {"gateway"}
    assert set(by_kind(built, "ScaledObject")) == set(SERVICES)
    assert set(by_kind(built, "PodMonitor")) == {"jiesu", "jiesu-rabbitmq", "jiesu-pg"}
    assert all(o["metadata"]["namespace"] == NAMESPACE for o in built if o["kind"] != "Namespace")
    for obj in built:
        if obj["apiVersion"] in BUILTIN_API_VERSIONS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
