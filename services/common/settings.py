"""Settings: one YAML file of defaults, every key overridable by an environment variable.

`config/jiesu.yaml` holds the defaults for a first run. `JIESU_CONFIG` names another file.
Each key `some_key` is overridden by the environment variable `JIESU_SOME_KEY`; values from
the environment are parsed as YAML scalars, so `JIESU_RPC_TIMEOUT=2.5` is a float and
`JIESU_LOG_JSON=false` a bool.

Nameko passes a plain dict to every extension (`container.config`), so the resolved settings
travel inside it under the key `JIESU`; `Settings.from_container_config` reads them back. Tests
build a container config with `nameko_config(settings)` and change what they need.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import yaml
from nameko.extensions import DependencyProvider

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_FILE = REPO_ROOT / "config" / "jiesu.yaml"
ENV_PREFIX = "JIESU_"
SERVICE_NAMES = ("intake", "routing", "sla", "notify", "rating")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    # The RabbitMQ vhost, in place of the one amqp_uri names ("" = amqp_uri's). `make run`
    # picks "jiesu:<data dir>" when neither names one, so two checkouts never share queues.
    amqp_vhost: str = ""
    # `{service}` is replaced by the service name: every service owns its own database.
    database_url: str = "sqlite:///{data_dir}/{service}.db"
    data_dir: str = "data"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    jwt_secret: str = "dev-only-secret-change-me-before-deploying"
    jwt_leeway_seconds: int = 30
    # Tokens live at most this long (exp - iat); iss / aud are checked when set ("" = not).
    jwt_max_lifetime_seconds: int = 12 * 3600
    jwt_issuer: str = ""
    jwt_audience: str = ""
    # RS256 instead of HS256: the identity provider's public key (PEM text, or a file path).
    jwt_public_key: str = ""
    timezone: str = "Asia/Shanghai"
    org_directory: str = "config/org.yaml"
    screening_rules: str = "config/screening.yaml"
    similar_window_days: int = 90
    attachments_dir: str = "data/attachments"
    max_photo_bytes: int = 10 * 1024 * 1024
    max_voice_bytes: int = 5 * 1024 * 1024
    max_attachments: int = 9
    rpc_timeout_seconds: float = 10.0
    max_workers: int = 10
    # The gateway's own worker pool (0: max_workers). Its workers only wait on RPC replies,
    # never on a client (gateway/server.py reads each body before a worker is spawned).
    gateway_max_workers: int = 100
    db_pool_size: int = 10
    outbox_poll_seconds: float = 0.5
    outbox_batch_size: int = 200
    consumer_retry_delays_seconds: tuple = (1, 10, 60)
    notify_sender: str = "logging"
    notify_resend_after_seconds: float = 30.0
    # Working calendar (X1); the SLA issue extends it with holidays and 调休.
    workday_start: str = "08:30"
    workday_end: str = "17:30"
    same_day_cutoff: str = "16:00"
    grade_simple_hours: float = 2.0
    grade_complex_days: int = 3
    # SLA engine (R12, X2): response limits per grade (minutes of working time: simple,
    # general, complex), warning and urging points, the escalation ladder after the deadline.
    sla_response_minutes: tuple = (30, 120, 240)
    sla_urgent_grade: str = "simple"
    sla_warning_share: float = 0.75
    sla_warning_lead_minutes: float = 60
    sla_urge_head_share: float = 0.9
    sla_escalation_minutes: tuple = (60, 240, 480)
    sla_demo_seconds: float = 0
    sla_batch_size: int = 500
    calendar_file: str = "config/calendar.yaml"
    vacations_are_holidays: bool = False
    clock_offset_file: str = ""
    complaint_number_prefix: str = "JS"
    # Each process serves /metrics, /healthz and /readyz on metrics_port + its offset
    # (intake 1, routing 2, sla 3, notify 4, rating 5, gateway 6); 0 turns them off.
    # Abuse limits on filing (per identity, per client address); 0 = off. Counted in Redis
    # when gateway_state_url is set (all replicas together), else per gateway process.
    rate_limit_identity_per_minute: float = 30
    rate_limit_ip_per_minute: float = 120
    # Largest request body the gateway reads (JSON, forms, WeChat XML, CTI events); 413 above.
    max_body_bytes: int = 65536
    # A client must send its request line and headers, and then its whole body, each within
    # this many seconds (a deadline per phase, not per read); else 408 and the connection
    # is closed.
    request_read_timeout_seconds: float = 10.0
    # WeChat official account (公众号) server at /wechat; empty token = channel off.
    wechat_token: str = ""
    wechat_aes_key: str = ""   # EncodingAESKey (43 characters) for safe mode
    wechat_app_id: str = ""
    # Where every gateway replica keeps WeChat dialogue state, recent replies and the abuse
    # limits' counts: "" = this
    # process's memory (one replica only), or redis://host:6379/0 (shared).
    gateway_state_url: str = ""
    # WeChat template messages (notices to WeChat users): the AppSecret turns them on.
    wechat_app_secret: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_template_id: str = ""
    # Where a WeChat user follows a case: {link}/<complaint id>; "" = the H5's case page,
    # {public_base_url}/h5/cases, when public_base_url is set, else no link (case_link_base).
    wechat_case_link: str = ""
    # Open311 GeoReport v2 apps, each "app-id:api-key" (X8); none by default.
    open311_api_keys: tuple = ()
    # The 24-hour hotline's call centre (CTI): webhook secrets (several while rotating; none
    # = webhook off) and the key that turns a caller's number into a stable pseudonym.
    hotline_webhook_secrets: tuple = ()
    caller_pseudonym_key: str = "jiesu-dev-pseudonym-key"
    # SMS to hotline callers: an HTTP provider when a base URL is set, else logged.
    sms_base_url: str = ""
    sms_account: str = ""
    sms_secret: str = ""
    # The office's work group (R12): the summaries go to its WeCom ("wecom") or DingTalk
    # ("dingtalk") robot; the URL carries the robot's key, the secret is DingTalk's 加签 key.
    # No URL: summaries are only logged.
    workgroup_webhook_url: str = ""
    workgroup_webhook_kind: str = "wecom"
    workgroup_webhook_secret: str = ""
    # Where staff reach the gateway (https://jiesu.example.edu.cn): the work-group post links
    # the summary's page and xlsx under it; "" = links as paths (/api/v1/staff/summaries/…).
    public_base_url: str = ""
    # 回访 by SMS (issue 12): the reply's SMS links {public_base_url}/r/<token>, a page of the
    # gateway; notify signs the token with this secret, the gateway checks it
    # (services/common/rating_link.py). Empty (or no public_base_url): no link.
    rating_link_secret: str = ""
    # The pages (issue 13, gateway/pages/): the staff console signs in through the campus
    # identity provider over CAS 3.0 at this URL (https://cas.example.edu.cn/cas; "" = no CAS
    # sign-in). The development sign-in (pick a person of org.yaml, any student id) exists
    # only when dev_login is on: `make run` turns it on, the production manifests off.
    cas_server_url: str = ""
    dev_login: bool = False
    # WeChat web authorisation (snsapi_base) for the H5 opened from the 公众号 menu; the code
    # is exchanged at {wechat_api_base}/sns/oauth2/access_token with the AppSecret.
    wechat_oauth_authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    # A page session ends after this long without a request, and in any case after the
    # maximum (the H5's and the console's alike); logout ends it at once.
    page_session_idle_seconds: int = 1800
    page_session_max_seconds: int = 43200
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9100
    log_level: str = "INFO"
    log_json: bool = True

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike | None = None, environ=None) -> "Settings":
        environ = os.environ if environ is None else environ
        path = Path(path or environ.get("JIESU_CONFIG") or DEFAULT_CONFIG_FILE)
        values: dict = {}
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                values = yaml.safe_load(handle) or {}
        elif environ.get("JIESU_CONFIG"):
            raise SettingsError(f"JIESU_CONFIG names {path}, which does not exist")
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
        for f in fields(cls):
            if env_name(f.name) in environ:
                raw = environ[env_name(f.name)]
                # Text stays text (YAML would read 17:30 as a number); the rest is YAML.
                values[f.name] = raw if isinstance(f.default, str) else yaml.safe_load(raw)
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        converted = {}
        for f in fields(cls):
            if f.name not in values or values[f.name] is None:
                continue
            raw = values[f.name]
            kind = type(f.default)
            try:
                if kind is tuple:
                    converted[f.name] = tuple(raw if isinstance(raw, (list, tuple)) else [raw])
                elif kind is bool and isinstance(raw, str):
                    converted[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
                else:
                    converted[f.name] = kind(raw)
            except (TypeError, ValueError) as exc:
                raise SettingsError(f"setting {f.name}={raw!r} is not a {kind.__name__}") from exc
        if converted.get("amqp_vhost"):
            converted["amqp_uri"] = with_vhost(converted.get("amqp_uri", cls.amqp_uri),
                                               converted["amqp_vhost"])
        return cls(**converted)

    @classmethod
    def from_container_config(cls, config: dict) -> "Settings":
        return cls.from_dict(config.get("JIESU", {}))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def with_changes(self, **changes) -> "Settings":
        return replace(self, **changes)

    # ---------------------------------------------------------------- derived
    def database_url_for(self, service: str) -> str:
        data_dir = self.resolve_path(self.data_dir)
        return self.database_url.format(service=service, data_dir=data_dir)

    def resolve_path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else REPO_ROOT / path


# ------------------------------------------------------------ who reads which setting
# Each deployed process is given the settings it reads and no others, secrets least of all:
# a process that does not hold the WeChat AppSecret or the JWT secret cannot leak it.
# docker-compose.yml and k8s/ follow this map (tests/deploy check that each process gets
# exactly the secrets it reads, and no setting it does not read); test_settings.py checks
# the map against the code. `migrate` is the one-shot that creates and migrates the
# databases (compose's migrate service, the init containers on Kubernetes).

# The settings that are secrets or carry one (the database and broker URLs hold passwords).
SECRETS = frozenset({
    "amqp_uri", "database_url", "jwt_secret", "caller_pseudonym_key", "wechat_token",
    "wechat_aes_key", "wechat_app_secret", "hotline_webhook_secrets", "open311_api_keys",
    "sms_secret", "workgroup_webhook_url", "workgroup_webhook_secret", "rating_link_secret"})

# What every process reads: the broker, its workers, its ops endpoints, its logs.
_EVERY_PROCESS = ("amqp_uri", "amqp_vhost", "max_workers", "metrics_host", "metrics_port",
                  "log_level", "log_json", "clock_offset_file")
# What a service with a database reads (services/common/db.py, bus.py).
_DATABASE = ("database_url", "data_dir", "db_pool_size", "outbox_poll_seconds",
             "outbox_batch_size", "consumer_retry_delays_seconds")
# The working calendar (services/common/calendar.py calendar_for).
_CALENDAR = ("timezone", "calendar_file", "workday_start", "workday_end", "same_day_cutoff",
             "vacations_are_holidays")

USED_BY: dict[str, frozenset[str]] = {process: frozenset(names) for process, names in {
    "intake": _EVERY_PROCESS + _DATABASE + _CALENDAR + (
        "rpc_timeout_seconds", "screening_rules", "similar_window_days", "max_attachments",
        "complaint_number_prefix", "caller_pseudonym_key"),
    "routing": _EVERY_PROCESS + _DATABASE + ("timezone", "org_directory", "sla_urgent_grade"),
    "sla": _EVERY_PROCESS + _DATABASE + _CALENDAR + (
        "grade_simple_hours", "grade_complex_days", "sla_response_minutes",
        "sla_warning_share", "sla_warning_lead_minutes", "sla_urge_head_share",
        "sla_escalation_minutes", "sla_demo_seconds", "sla_batch_size"),
    "notify": _EVERY_PROCESS + _DATABASE + (
        "notify_sender", "notify_resend_after_seconds", "wechat_app_id", "wechat_app_secret",
        "wechat_api_base", "wechat_template_id", "wechat_case_link", "sms_base_url",
        "sms_account", "sms_secret", "workgroup_webhook_url", "workgroup_webhook_kind",
        "workgroup_webhook_secret", "public_base_url", "rating_link_secret"),
    "rating": _EVERY_PROCESS + _DATABASE + _CALENDAR + ("org_directory",),
    "gateway": _EVERY_PROCESS + (
        "gateway_host", "gateway_port", "gateway_max_workers", "gateway_state_url",
        "rpc_timeout_seconds", "jwt_secret", "jwt_public_key", "jwt_leeway_seconds",
        "jwt_max_lifetime_seconds", "jwt_issuer", "jwt_audience", "attachments_dir",
        "max_photo_bytes", "max_voice_bytes", "max_attachments", "max_body_bytes",
        "request_read_timeout_seconds", "rate_limit_identity_per_minute",
        "rate_limit_ip_per_minute", "wechat_token", "wechat_aes_key", "wechat_app_id",
        "wechat_case_link", "open311_api_keys", "hotline_webhook_secrets",
        "rating_link_secret", "public_base_url", "org_directory", "cas_server_url",
        "dev_login", "wechat_oauth_authorize_url", "wechat_app_secret", "wechat_api_base",
        "page_session_idle_seconds", "page_session_max_seconds"),
    "migrate": ("database_url", "data_dir"),
}.items()}


def case_link_base(settings: Settings) -> str:
    """Where the links in WeChat's template messages and passive replies open a case,
    `<base>/<complaint id>`: `wechat_case_link` when set, else the H5's case page under
    `public_base_url`; "" when neither is set (no link). One rule for notify and the gateway."""
    if settings.wechat_case_link:
        return settings.wechat_case_link.rstrip("/")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + "/h5/cases"
    return ""


def env_name(setting: str) -> str:
    """The environment variable that overrides a setting."""
    return ENV_PREFIX + setting.upper()


def vhost_of(amqp_uri: str) -> str:
    """The vhost an AMQP URI names ("/" when it names none)."""
    path = urlsplit(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def with_vhost(amqp_uri: str, vhost: str) -> str:
    parts = urlsplit(amqp_uri)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


def nameko_config(settings: Settings, **extra) -> dict:
    """The dict a nameko ServiceRunner / container_factory expects."""
    config = {
        "AMQP_URI": settings.amqp_uri,
        "WEB_SERVER_ADDRESS": f"{settings.gateway_host}:{settings.gateway_port}",
        "max_workers": settings.max_workers,
        "parent_calls_tracked": 10,
        "serializer": "json",
        "JIESU": settings.as_dict(),
    }
    config.update(extra)
    return config


class SettingsProvider(DependencyProvider):
    """Injects the resolved Settings into entrypoints as `self.settings`."""

    def setup(self):
        self.settings = Settings.from_container_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.settings
