from services.common.migrate import run_env
from services.rating.models import metadata

run_env(metadata)
