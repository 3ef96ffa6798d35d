"""Container image tags: what `--version` becomes on a slot's image, on App Service and on EKS."""

from __future__ import annotations

import re

from releases.errors import BadInput

# Docker's tag grammar.
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


def require_tag(version: str) -> str:
    if not re.fullmatch(TAG, version):
        raise BadInput(f"--version {version!r} is not a container image tag (letters, digits, '_', '.', '-')")
    return version
