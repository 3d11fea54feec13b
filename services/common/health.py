"""Every service answers `health` over RPC: answering at all proves its container started,
and with it every consumer it declares (so events published after that are not lost).

`alive()` is what every /healthz answers (the gateway's, and each process's ops endpoint):
with the id of the run that started the process, so that `System.wait_ready` knows the
answer comes from its own processes and not from another jiesu on the same port."""
import os

from nameko.rpc import rpc

from services.common.metrics import EntrypointMetrics


# Set by services.common.system.System for every process it starts.
INSTANCE_VARIABLE = "JIESU_INSTANCE_ID"


def alive() -> dict:
    return {"status": "ok", "instance": os.environ.get(INSTANCE_VARIABLE) or None}


class HealthMixin:
    metrics = EntrypointMetrics()

    @rpc
    def health(self):
        return {"service": self.name, "status": "ok"}
