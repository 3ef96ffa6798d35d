"""Container image references: what `--version` (and `--digest`) become on a slot's image, on App
Service and on EKS.

A release names its version by tag (`1.2.3`, what the slots report on /health) and may pin the
image by digest: `1.2.3@sha256:<64 hex>` as the version, or a separate `--digest sha256:...`
joined to it by `pinned`. A pinned version deploys `repository:1.2.3@sha256:...`, which the
registry resolves by digest alone: the slot runs exactly the image that was built and scanned,
whatever the tag points at by then (CKV_K8S_43). The tag stays in the reference for people.
"""

from __future__ import annotations

import re

from releases.errors import BadInput

# Docker's tag grammar, and an OCI sha256 digest.
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DIGEST = r"sha256:[0-9a-f]{64}"
PINNED_VERSION = re.compile(rf"^(?P<tag>{TAG})(@(?P<digest>{DIGEST}))?$")


# The one version rule, for every environment and every task that takes --version.
VERSION_RULE = (
    "a container image tag: 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-', "
    "and not 'latest' (which names no one build); optionally pinned by digest, "
    "1.2.3@sha256:<64 hex digits>"
)


def check_version(version: str) -> tuple[str, str | None]:
    """The release version as (tag, digest or None), or BadInput naming the rule.

    `latest` is refused: it moves, so the journal, the deployment log and a rollback could not say
    which build served users (and a release of `latest` over `latest` would look like nothing)."""
    match = PINNED_VERSION.fullmatch(version)  # fullmatch: `$` alone lets a trailing newline in
    if match is None or match["tag"] == "latest":
        raise BadInput(f"--version must be {VERSION_RULE}; got {version!r}")
    return match["tag"], match["digest"]


def require_tag(version: str) -> str:
    if not re.fullmatch(TAG, version):
        raise BadInput(f"--version {version!r} is not a container image tag (letters, digits, '_', '.', '-')")
    return version


def require_digest(digest: str) -> str:
    if not re.fullmatch(DIGEST, digest):
        raise BadInput(
            f"--digest {digest!r} is not an image digest; expected sha256: and 64 lower-case hex digits"
        )
    return digest


def split_version(version: str) -> tuple[str, str | None]:
    """`1.2.3` -> (`1.2.3`, None); `1.2.3@sha256:<hex>` -> (`1.2.3`, `sha256:<hex>`)."""
    match = PINNED_VERSION.match(version)
    if match is None:
        raise BadInput(
            f"--version {version!r} is not a container image tag (letters, digits, '_', '.', '-'), "
            "optionally pinned by digest (1.2.3@sha256:<64 hex digits>)"
        )
    return match["tag"], match["digest"]


def pinned(version: str, digest: str | None) -> str:
    """The version a slot deploys: `version` as given, or with `--digest` joined to it. A version
    that already names another digest is refused: which image to run would be ambiguous."""
    tag, named = split_version(version)
    if digest is None:
        return version
    require_digest(digest)
    if named is not None and named != digest:
        raise BadInput(f"--version {version!r} names a digest other than --digest {digest}; give one")
    return f"{tag}@{digest}"


def image_reference(repository: str, version: str) -> str:
    """`repository` at `version`: `repo:1.2.3`, or `repo:1.2.3@sha256:...` when pinned."""
    tag, digest = split_version(version)
    return f"{repository}:{tag}" + (f"@{digest}" if digest else "")


def repository_of(image: str) -> str:
    """`registry:5000/team/api:1.2.3@sha256:...` -> `registry:5000/team/api`."""
    name = image.split("@", 1)[0]
    repository, colon, tag = name.rpartition(":")
    return repository if colon and "/" not in tag else name


def tag_of(image: str | None) -> str | None:
    """The tag an image reference carries (the version a slot reports); None for a digest-only or
    untagged reference."""
    if not image:
        return None
    name = image.split("@", 1)[0]
    repository, colon, tag = name.rpartition(":")
    return tag if colon and repository and "/" not in tag else None


def digest_of(image: str | None) -> str | None:
    """The digest an image reference pins, if any."""
    if not image or "@" not in image:
        return None
    digest = image.split("@", 1)[1]
    return digest if re.fullmatch(DIGEST, digest) else None
