"""Run one service (or several) in this process:  python -m services.common.runner intake

The settings come from config/jiesu.yaml and JIESU_* variables (services.common.settings).
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402

from nameko.cli.run import run  # noqa: E402

from services.common.logs import configure_logging  # noqa: E402
from services.common.settings import Settings, SettingsError, nameko_config  # noqa: E402

SERVICE_CLASSES = {
    "intake": "services.intake.service:IntakeService",
    "routing": "services.routing.service:RoutingService",
    "sla": "services.sla.service:SlaService",
    "notify": "services.notify.service:NotifyService",
    "rating": "services.rating.service:RatingService",
    "gateway": "gateway.service:GatewayService",
}


def service_class(name: str):
    module_name, _, class_name = SERVICE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="run jiesu services in this process")
    parser.add_argument("services", nargs="+", choices=sorted(SERVICE_CLASSES))
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging("+".join(args.services), settings.log_level, settings.log_json)
    run([service_class(name) for name in args.services], nameko_config(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
