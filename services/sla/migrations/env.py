from services.common.migrate import run_env
from services.sla.models import metadata

run_env(metadata)
