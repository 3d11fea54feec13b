"""Every service answers `health` over RPC: answering at all proves its container started,
and with it every consumer it declares (so events published after that are not lost)."""
from nameko.rpc import rpc

from services.common.metrics import EntrypointMetrics


class HealthMixin:
    metrics = EntrypointMetrics()

    @rpc
    def health(self):
        return {"service": self.name, "status": "ok"}
