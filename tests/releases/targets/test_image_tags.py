"""Releases by digest: a version may pin its image (`1.2.3@sha256:...`, or `--digest`), and the
slot adapters then deploy exactly that digest while the slots keep reporting the tag."""

from __future__ import annotations

import pytest

from releases.errors import BadInput
from releases.targets.slots.app_service import image_with_tag
from releases.targets.slots.image_tags import digest_of, image_reference, pinned, repository_of, split_version
from releases.targets.slots.kubernetes import image_tag

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def test_a_version_may_be_pinned_by_digest() -> None:
    assert split_version("1.2.3") == ("1.2.3", None)
    assert split_version(f"1.2.3@{DIGEST}") == ("1.2.3", DIGEST)
    assert pinned("1.2.3", DIGEST) == f"1.2.3@{DIGEST}"
    assert pinned(f"1.2.3@{DIGEST}", DIGEST) == f"1.2.3@{DIGEST}"
    assert pinned("1.2.3", None) == "1.2.3"


@pytest.mark.parametrize(
    ("version", "digest", "message"),
    [
        ("1.2.3", "sha256:abc", "not an image digest"),
        ("1.2.3", "md5:" + "ab" * 16, "not an image digest"),
        (f"1.2.3@{DIGEST}", OTHER, "names a digest other than --digest"),
        ("1.2.3@sha256:ABC", None, "not a container image tag"),
        (f"latest@{DIGEST}; rm -rf /", None, "not a container image tag"),
    ],
)
def test_a_malformed_or_ambiguous_digest_is_bad_input(version: str, digest: str | None, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        pinned(version, digest)


def test_app_service_deploys_exactly_the_digest() -> None:
    assert image_with_tag("DOCKER|ghcr.io/example/web:1.0.0", f"2.0.0@{DIGEST}") == (
        f"DOCKER|ghcr.io/example/web:2.0.0@{DIGEST}"
    )
    # From a slot already pinned by digest (the program's initial image), to a new tag or digest.
    assert image_with_tag(f"DOCKER|ghcr.io/example/web:1.0.0@{OTHER}", "2.0.0") == (
        "DOCKER|ghcr.io/example/web:2.0.0"
    )
    assert image_with_tag(f"DOCKER|ghcr.io/example/web:1.0.0@{OTHER}", f"2.0.0@{DIGEST}") == (
        f"DOCKER|ghcr.io/example/web:2.0.0@{DIGEST}"
    )


def test_kubernetes_images_keep_their_repository_and_report_the_tag() -> None:
    image = f"registry.example.com:5000/team/api:1.2.3@{DIGEST}"
    assert repository_of(image) == "registry.example.com:5000/team/api"
    assert image_tag(image) == "1.2.3"  # what the engine compares with the release's version
    assert digest_of(image) == DIGEST
    assert image_reference("registry.example.com:5000/team/api", f"2.0.0@{OTHER}") == (
        f"registry.example.com:5000/team/api:2.0.0@{OTHER}"
    )
    assert image_tag(f"registry.example.com/api@{DIGEST}") is None  # a digest alone names no version
