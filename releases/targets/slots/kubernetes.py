"""The API's blue/green Deployments on EKS as a slot pair (official `kubernetes` client).

Which colour is production is whatever the `active` Service selects; the other colour is the
staging slot behind `preview`. Deploying sets the preview colour's container image and the slot is
ready once that rollout is complete (the Deployment's own readiness probes are the health
checks). Promotion flips both selectors, `active` first. Every write is a JSON Patch that first
tests the value it replaces, so a change someone else made in between fails the write instead of
being overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from kubernetes import config
from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api, V1Deployment
from kubernetes.client.exceptions import ApiException
from urllib3 import HTTPResponse
from urllib3.exceptions import HTTPError

from releases.errors import Refused, TargetUnavailable, VerificationFailed
from releases.model import Pool, SlotHealth
from releases.targets.clients import retrying
from releases.targets.clients.retrying import RetryDecision, RetryPolicy
from releases.targets.slots.image_tags import image_reference, repository_of, split_version, tag_of
from releases.topology import KubernetesSlotPairSpec

T = TypeVar("T")
JSON_PATCH = "application/json-patch+json"


def api_client(target: KubernetesSlotPairSpec, kubeconfig: Path | None) -> ApiClient:
    """A client for the cluster's context in the kubeconfig: the context named like the cluster
    (`aws eks update-kubeconfig --alias <name>`) or the one `update-kubeconfig` names by ARN."""

    path = str(kubeconfig) if kubeconfig else None
    hint = (
        f"`aws eks update-kubeconfig --name {target.cluster_name} --region {target.region} "
        f"--alias {target.cluster_name}`"
    )
    try:
        contexts: list[Any] = config.list_kube_config_contexts(config_file=path)[0] or []
    except (config.ConfigException, OSError) as error:
        raise Refused(f"no usable kubeconfig ({error}); run {hint}") from None
    names = [str(context["name"]) for context in contexts]
    wanted = [n for n in names if n == target.cluster_name or n.endswith(f":cluster/{target.cluster_name}")]
    if not wanted:
        raise Refused(f"the kubeconfig has no context for cluster {target.cluster_name}; run {hint}")
    try:
        return config.new_client_from_config(config_file=path, context=wanted[0], persist_config=False)
    except (config.ConfigException, OSError) as error:
        raise Refused(f"kubeconfig context {wanted[0]} is not usable: {error}") from None


def _pointer(*parts: str) -> str:
    """A JSON Pointer (RFC 6901): label keys like `app.kubernetes.io/colour` need escaping."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def image_tag(image: str | None) -> str | None:
    """`registry/api:1.2.3` (or `registry/api:1.2.3@sha256:...`) -> `1.2.3`; a digest-only or
    untagged image has no version to report."""
    return tag_of(image)


class KubernetesSlots:
    def __init__(
        self, target: KubernetesSlotPairSpec, client: ApiClient, policy: RetryPolicy, timeout: float
    ):

        self.target = target
        self.apps = AppsV1Api(client)
        self.core = CoreV1Api(client)
        self.policy = policy
        self.timeout = timeout

    # -- calls -----------------------------------------------------------------------------------

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        def classify(error: Exception) -> RetryDecision:
            if isinstance(error, ApiException) and error.status == 429:
                headers = error.headers or {}
                return retrying.rate_limited(
                    retrying.retry_after_seconds(headers), self.policy, "Kubernetes API"
                )
            return isinstance(error, HTTPError) or (
                isinstance(error, ApiException) and (error.status or 0) >= 500
            )

        where = f"cluster {self.target.cluster_name}, namespace {self.target.namespace}"
        try:
            return retrying.call(operation, classify, self.policy)
        except ApiException as error:
            if error.status in (401, 403):
                raise TargetUnavailable(
                    f"the Kubernetes API ({where}) refused to {what}: {error.status} {error.reason}; "
                    "check the kubeconfig's credentials and RBAC"
                ) from None
            if error.status in (409, 422):
                raise Refused(
                    f"could not {what} ({where}): it changed since it was read "
                    f"({error.status} {error.reason}); "
                    "nothing was changed by this write. Check `invoke status` and rerun"
                ) from None
            raise TargetUnavailable(
                f"the Kubernetes API ({where}) failed to {what}: {error.status} {error.reason}"
            ) from None
        except HTTPError as error:
            raise TargetUnavailable(f"cannot reach the Kubernetes API ({where}) to {what}: {error}") from None

    def _service_colour(self, role: str) -> str:
        name = getattr(self.target.services, role)
        service = self._call(
            f"read Service {name}",
            lambda: self.core.read_namespaced_service(
                name, self.target.namespace, _request_timeout=self.timeout
            ),
        )
        colour = ((service.spec.selector if service.spec else None) or {}).get(self.target.colour_label)
        if colour not in self.target.deployments:
            raise VerificationFailed(
                f"Service {name} selects {self.target.colour_label}={colour!r}, not one of "
                f"{', '.join(sorted(self.target.deployments))}"
            )
        return colour

    def colours(self) -> tuple[str, str]:
        """(production colour, staging colour): what `active` and `preview` select."""
        active, preview = self._service_colour("active"), self._service_colour("preview")
        if active == preview:
            raise VerificationFailed(
                f"both Services select the {active} Deployment; there is no staging slot"
            )
        return active, preview

    def pool_label_value(self, pool: Pool) -> str:
        """The colour whose metrics are the pool's: `stable` is served by `active`, `canary` by `preview`."""
        active, preview = self.colours()
        return active if pool is Pool.STABLE else preview

    def _deployment(self, colour: str) -> V1Deployment:
        name = self.target.deployments[colour]
        return self._call(
            f"read Deployment {name}",
            lambda: self.apps.read_namespaced_deployment(
                name, self.target.namespace, _request_timeout=self.timeout
            ),
        )

    def _container_index(self, deployment: V1Deployment) -> tuple[int, Any]:
        containers = (
            deployment.spec.template.spec.containers
            if deployment.spec and deployment.spec.template.spec
            else []
        )
        for index, container in enumerate(containers or []):
            if container.name == self.target.container:
                return index, container
        raise VerificationFailed(
            f"Deployment {deployment.metadata.name if deployment.metadata else '?'} has no container "
            f"{self.target.container!r}"
        )

    def _health(self, colour: str) -> SlotHealth:
        deployment = self._deployment(colour)
        _, container = self._container_index(deployment)
        spec_replicas = (
            deployment.spec.replicas if deployment.spec and deployment.spec.replicas is not None else 1
        )
        status = deployment.status
        generation = deployment.metadata.generation if deployment.metadata else None
        observed = status.observed_generation if status else None
        updated = (status.updated_replicas or 0) if status else 0
        available = (status.available_replicas or 0) if status else 0
        total = (status.replicas or 0) if status else 0
        rolled_out = (
            generation is not None
            and observed is not None
            and observed >= generation
            and updated == spec_replicas
            and available == spec_replicas
            and total == spec_replicas  # no old pods left from the previous image
        )
        return SlotHealth(
            name=colour,
            version=image_tag(container.image),
            healthy=available > 0,
            ready=rolled_out,
            detail=f"{updated}/{spec_replicas} updated, {available} available, "
            f"generation {observed}/{generation}",
        )

    # -- SlotPair --------------------------------------------------------------------------------

    def probe(self) -> tuple[SlotHealth, SlotHealth]:
        active, preview = self.colours()
        return self._health(active), self._health(preview)

    def probe_staging(self) -> SlotHealth:
        return self._health(self.colours()[1])

    def deploy_staging(self, version: str) -> None:
        split_version(version)  # a tag, or a tag pinned by digest
        colour = self.colours()[1]
        deployment = self._deployment(colour)
        index, container = self._container_index(deployment)
        repository = repository_of(container.image or "")
        path = _pointer("spec", "template", "spec", "containers", str(index))
        patch = [
            {"op": "test", "path": f"{path}/name", "value": self.target.container},
            {"op": "test", "path": f"{path}/image", "value": container.image},
            {"op": "replace", "path": f"{path}/image", "value": image_reference(repository, version)},
        ]
        name = self.target.deployments[colour]
        self._call(
            f"set the image of Deployment {name}",
            lambda: self.apps.patch_namespaced_deployment(
                name, self.target.namespace, patch, _content_type=JSON_PATCH, _request_timeout=self.timeout
            ),
        )

    def _select(self, role: str, current: str, colour: str) -> None:
        name = getattr(self.target.services, role)
        path = _pointer("spec", "selector", self.target.colour_label)
        patch = [
            {"op": "test", "path": path, "value": current},
            {"op": "replace", "path": path, "value": colour},
        ]
        self._call(
            f"point Service {name} at {colour}",
            lambda: self.core.patch_namespaced_service(
                name, self.target.namespace, patch, _content_type=JSON_PATCH, _request_timeout=self.timeout
            ),
        )

    def swap(self) -> None:
        """`active` first: from that moment production traffic reaches the new colour; `preview`
        then takes the old colour, which stays warm for a swap back. Two patches cannot be one
        transaction, so if the second is refused the first is undone: both Services never stay on
        one colour (from which no swap could recover)."""
        active, preview = self.colours()
        self._select("active", active, preview)
        try:
            self._select("preview", preview, active)
        except Refused as error:  # refused, conflicting or unreachable: the second half did not happen
            try:
                self._select("active", preview, active)
            except Refused as undo:
                raise TargetUnavailable(
                    f"{error}; undoing the first half also failed ({undo}): Services "
                    f"{self.target.services.active} and {self.target.services.preview} both select "
                    f"{preview}. Point {self.target.services.active} back at {active} by hand"
                ) from None
            raise TargetUnavailable(
                f"{error}. The swap was undone: {self.target.services.active} selects {active} again"
            ) from None

    def unresolved_references(self) -> list[str]:
        """Pods read secrets from Kubernetes Secrets: a missing one keeps the new pods from starting,
        which the health gate sees. There is no reference left unresolved in a running pod."""
        return []

    def url(self, staging: bool) -> str | None:
        """Slots are reached through the API server's service proxy only (`fetch`)."""
        return None

    def fetch(self, staging: bool, path: str, timeout: float) -> tuple[int, str]:
        """GET through the API server's service proxy to the `preview` or `active` Service. One
        attempt: a smoke test judges what the slot answers, retries would hide a flaky one."""
        name = self.target.services.preview if staging else self.target.services.active
        try:
            response = self.core.connect_get_namespaced_service_proxy_with_path(
                name,
                self.target.namespace,
                path.lstrip("/"),
                _preload_content=False,
                _request_timeout=timeout,
            )
        except ApiException as error:
            if not error.status:  # no HTTP answer at all (TLS failure)
                raise TargetUnavailable(f"cannot reach Service {name} through the API server") from None
            return error.status, str(error.body or "")
        except HTTPError as error:
            raise TargetUnavailable(
                f"cannot reach Service {name} through the API server ({type(error).__name__})"
            ) from None
        raw = cast("HTTPResponse", response)  # the stub says str; unpreloaded, it is urllib3's response
        return raw.status, raw.data.decode(errors="replace")

    def preflight(self) -> None:
        for colour in self.colours():
            self._container_index(self._deployment(colour))
