"""What the Pulumi program, the invoke tasks and the release engine agree on, in one module with no
dependencies, so that infra imports nothing of the release side and the release side nothing of
infra: the secrets the web app reads, how their Key Vault names are spelled, and the exit codes.
"""

from __future__ import annotations

# The variables the deployment runbooks verify before every deploy that hold secrets. Each is a Key
# Vault secret and, in both of the web app's slots, a Key Vault reference; never a plain value. The
# API on EKS reads Kubernetes Secrets, which its pods check.
SECRET_APP_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "NEXTAUTH_SECRET",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
)


def key_vault_secret_name(app_setting: str) -> str:
    """Key Vault secret names allow letters, digits and dashes: DATABASE_URL -> database-url."""
    return app_setting.lower().replace("_", "-")


def app_setting_name(secret: str) -> str:
    """The inverse of `key_vault_secret_name`: database-url -> DATABASE_URL."""
    return secret.upper().replace("-", "_")


# Exit codes: the same for every task, documented in docs/operations.md.
EXIT_DONE = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_GATE_FAILED = 4
EXIT_HELD = 5
# A signal ended the command: 128 + the signal's number, as shells report it.
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
EXIT_TERMINATED = 143  # SIGTERM
