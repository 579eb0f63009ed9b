"""The AI-Service stack. Reads config once, validates it, declares everything, exports outputs."""

import pulumi

from infra.composition import build_stack
from infra.settings import CONFIG_KEYS, CONFIG_NAMESPACE, SettingsError, load_settings

_gcp = pulumi.Config("gcp")
_own = pulumi.Config(CONFIG_NAMESPACE)

try:
    settings = load_settings(
        project=_gcp.get("project"),
        region=_gcp.get("region"),
        values={key: _own.get(key) for key in CONFIG_KEYS},
        stack=pulumi.get_stack(),
        secret_keys=[
            key
            for key in pulumi.runtime.config.CONFIG.get()
            if pulumi.runtime.is_config_secret(key)
        ],
    )
except SettingsError as error:
    # A RunError prints just the message (no traceback) in `pulumi up` / `preview`.
    raise pulumi.RunError(f"invalid stack configuration: {error}") from error

for output_name, value in build_stack(settings).items():
    pulumi.export(output_name, value)
