import re
from dataclasses import fields
from pathlib import Path

import pytest

from services.common.settings import (REPO_ROOT, SECRETS, SERVICE_NAMES, USED_BY, Settings,
                                      SettingsError, case_link_base, env_name, nameko_config)


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jiesu.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_values_in_the_file_replace_the_defaults(tmp_path):
    path = write_yaml(tmp_path, "gateway_port: 9000\ntimezone: Asia/Urumqi\n")

    settings = Settings.load(path, environ={})

    assert settings.gateway_port == 9000
    assert settings.timezone == "Asia/Urumqi"
    assert settings.max_workers == Settings().max_workers


def test_an_empty_file_gives_the_defaults(tmp_path):
    assert Settings.load(write_yaml(tmp_path, ""), environ={}) == Settings()


@pytest.mark.parametrize("env, field, expected", [
    ({"JIESU_GATEWAY_PORT": "8080"}, "gateway_port", 8080),
    ({"JIESU_RPC_TIMEOUT_SECONDS": "2.5"}, "rpc_timeout_seconds", 2.5),
    ({"JIESU_LOG_JSON": "false"}, "log_json", False),
    ({"JIESU_LOG_JSON": "true"}, "log_json", True),
    ({"JIESU_CONSUMER_RETRY_DELAYS_SECONDS": "[1, 2.5, 30]"},
     "consumer_retry_delays_seconds", (1, 2.5, 30)),
    ({"JIESU_CONSUMER_RETRY_DELAYS_SECONDS": "5"}, "consumer_retry_delays_seconds", (5,)),
    ({"JIESU_AMQP_URI": "amqp://u:p@rabbit:5672/jiesu"}, "amqp_uri",
     "amqp://u:p@rabbit:5672/jiesu"),
])
def test_environment_overrides_are_parsed_to_the_setting_type(tmp_path, env, field, expected):
    settings = Settings.load(write_yaml(tmp_path, ""), environ=env)

    value = getattr(settings, field)
    assert value == expected
    assert type(value) is type(expected)


def test_the_environment_wins_over_the_file(tmp_path):
    path = write_yaml(tmp_path, "gateway_port: 9000\n")

    assert Settings.load(path, environ={"JIESU_GATEWAY_PORT": "9100"}).gateway_port == 9100


def test_jiesu_config_names_the_file_to_read(tmp_path):
    path = write_yaml(tmp_path, "max_workers: 3\n")

    assert Settings.load(environ={"JIESU_CONFIG": str(path)}).max_workers == 3


def test_jiesu_config_naming_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError):
        Settings.load(environ={"JIESU_CONFIG": str(tmp_path / "missing.yaml")})


def test_a_string_setting_from_the_environment_keeps_its_text(tmp_path):
    settings = Settings.load(write_yaml(tmp_path, ""), environ={"JIESU_WORKDAY_END": "17:30"})

    assert settings.workday_end == "17:30"


def test_an_unknown_key_in_the_file_is_refused(tmp_path):
    # A typo would otherwise silently leave the default in force.
    path = write_yaml(tmp_path, "gateway_prot: 9000\n")

    with pytest.raises(SettingsError, match="gateway_prot"):
        Settings.load(path, environ={})


@pytest.mark.parametrize("text", ["gateway_port: eight thousand\n", "max_workers: [1, 2]\n",
                                  "rpc_timeout_seconds: soon\n"])
def test_a_value_of_the_wrong_type_in_the_file_is_refused(tmp_path, text):
    with pytest.raises(SettingsError):
        Settings.load(write_yaml(tmp_path, text), environ={})


def test_a_value_of_the_wrong_type_in_the_environment_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="gateway_port"):
        Settings.load(write_yaml(tmp_path, ""), environ={"JIESU_GATEWAY_PORT": "http"})


def test_database_url_names_the_service_and_an_absolute_data_dir(tmp_path):
    settings = Settings(database_url="sqlite:///{data_dir}/{service}.db", data_dir=str(tmp_path))

    assert settings.database_url_for("intake") == f"sqlite:///{tmp_path}/intake.db"


def test_a_relative_data_dir_is_taken_from_the_repository_root():
    # Services are started from anywhere; "data" must not depend on the working directory.
    settings = Settings(data_dir="data")

    assert settings.database_url_for("sla") == f"sqlite:///{REPO_ROOT / 'data'}/sla.db"


def test_a_database_url_without_placeholders_is_used_as_it_is():
    settings = Settings(database_url="postgresql://db/jiesu_{service}")

    assert settings.database_url_for("notify") == "postgresql://db/jiesu_notify"


def test_nameko_config_carries_broker_web_address_and_the_settings():
    settings = Settings(amqp_uri="amqp://x@rabbit/", gateway_host="0.0.0.0", gateway_port=8123,
                        max_workers=7)

    config = nameko_config(settings)

    assert config["AMQP_URI"] == "amqp://x@rabbit/"
    assert config["WEB_SERVER_ADDRESS"] == "0.0.0.0:8123"
    assert config["max_workers"] == 7
    assert config["serializer"] == "json"
    assert Settings.from_container_config(config) == settings


def test_nameko_config_extras_override_and_extend():
    config = nameko_config(Settings(), AMQP_URI="amqp://other/", DATABASE_URLS={"intake": "x"})

    assert config["AMQP_URI"] == "amqp://other/"
    assert config["DATABASE_URLS"] == {"intake": "x"}


# ------------------------------------------------------------ who reads which setting
def settings_read_in(paths) -> set[str]:
    """The settings the code under `paths` reads: `settings.x`, `self.settings.x`,
    `Settings.from_container_config(...).x`, `config["JIESU"].get("x")`."""
    names = {f.name for f in fields(Settings)}
    found = set()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"(?:settings|\))\.(\w+)", text))
        found |= set(re.findall(r"\.get\(\"(\w+)\"\)", text))
    return found & names


def sources(package: str) -> list[Path]:
    return [path for path in (REPO_ROOT / package).rglob("*.py")
            if "tests" not in path.parts and "migrations" not in path.parts]


PROCESS_SOURCES = {name: f"services/{name}" for name in SERVICE_NAMES} | {"gateway": "gateway"}


@pytest.mark.parametrize("process", sorted(PROCESS_SOURCES))
def test_each_process_is_given_every_setting_its_code_reads(process):
    read = settings_read_in(sources(PROCESS_SOURCES[process]))
    # rating reads none itself (only through services/common): for the others, a scan that
    # finds nothing means its patterns no longer match the code.
    assert read or process == "rating"
    assert read <= USED_BY[process], f"{process} reads {sorted(read - USED_BY[process])}"


def test_what_the_common_kit_reads_is_given_to_the_processes_that_use_it():
    common = REPO_ROOT / "services" / "common"
    for module, readers in {"db.py": [*SERVICE_NAMES], "bus.py": ["intake", "gateway"],
                            "calendar.py": ["intake", "sla"], "migrate.py": ["migrate"],
                            "runner.py": [], "clock.py": [*SERVICE_NAMES, "gateway"]}.items():
        read = settings_read_in([common / module])
        for process in readers:
            missing = read - USED_BY[process]
            if module == "bus.py":  # the retries are the event handlers' (services only)
                missing -= {"consumer_retry_delays_seconds"}
            assert not missing, f"{process} uses {module}, which reads {sorted(missing)}"
    # The runner starts every process: what it reads for all of them, all of them get.
    runner = settings_read_in([common / "runner.py"]) - {"gateway_host", "gateway_port",
                                                          "gateway_state_url", "database_url"}
    for process in PROCESS_SOURCES:
        assert runner <= USED_BY[process], process


def test_every_setting_is_read_by_a_process_and_the_secrets_are_settings():
    names = {f.name for f in fields(Settings)}
    used = set().union(*USED_BY.values())
    assert used <= names, f"not settings: {sorted(used - names)}"
    assert names - used == set(), f"read by no process: {sorted(names - used)}"
    assert SECRETS <= names
    assert set(USED_BY) == set(SERVICE_NAMES) | {"gateway", "migrate"}
    assert "caller_pseudonym_key" not in USED_BY["notify"] | USED_BY["gateway"]
    assert "jwt_secret" in USED_BY["gateway"] and "database_url" not in USED_BY["gateway"]
    assert env_name("wechat_app_secret") == "JIESU_WECHAT_APP_SECRET"


def test_the_work_group_robot_settings_are_notifys_and_the_url_is_a_secret():
    # The WeCom webhook URL carries the robot's key: whoever holds it posts to the group.
    workgroup = {"workgroup_webhook_url", "workgroup_webhook_kind", "workgroup_webhook_secret"}
    assert workgroup <= USED_BY["notify"]
    assert {"workgroup_webhook_url", "workgroup_webhook_secret"} <= SECRETS
    assert "workgroup_webhook_kind" not in SECRETS
    for process in set(USED_BY) - {"notify"}:
        assert not workgroup & USED_BY[process], process
    assert workgroup <= settings_read_in(sources("services/notify"))
    defaults = Settings()
    assert (defaults.workgroup_webhook_url, defaults.workgroup_webhook_kind,
            defaults.workgroup_webhook_secret) == ("", "wecom", "")


def test_a_case_link_opens_the_h5_case_page_unless_another_link_is_set():
    assert case_link_base(Settings()) == ""
    assert case_link_base(Settings(public_base_url="https://jiesu.example.edu.cn/")) == \
        "https://jiesu.example.edu.cn/h5/cases"
    assert case_link_base(Settings(public_base_url="https://jiesu.example.edu.cn",
                                   wechat_case_link="https://m.example.edu.cn/case/")) == \
        "https://m.example.edu.cn/case"
    # both readers are given the one setting that decides
    assert {"wechat_case_link", "public_base_url"} <= USED_BY["notify"] & USED_BY["gateway"]
