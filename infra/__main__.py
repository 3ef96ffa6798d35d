"""Pulumi entry point: load settings, build the platform, export its outputs."""

import pulumi

from infra.program import build
from infra.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        # RunError prints the message alone: no traceback for a configuration mistake.
        raise pulumi.RunError(str(error)) from None
    for output_name, value in build(settings).items():
        pulumi.export(output_name, value)


if __name__ == "__main__":  # Pulumi runs this directory as __main__
    main()
