"""The Kubernetes API for the API's blue/green workloads: apps/v1 Deployments and v1 Services in
one namespace, changed with JSON Patch (applied by `jsonpatch`, `test` operations included). A
new image starts a rollout that completes `rollout_seconds` later, as the controller would."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

import jsonpatch
import trustme
import yaml
from werkzeug import Request

from tests.releases.cloud_fakes.http import FakeAPI, Reply, json_body

TOKEN = "k8s-test-token-3b9e6d"  # a secret: must never appear in output or the journal
NAMESPACE = "api"
CLUSTER = "platform-staging-eks"
REPOSITORY = "registry.example.com/api"
COLOUR_LABEL = "colour"


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


class FakeKubernetes(FakeAPI):
    def __init__(self, ca: trustme.CA, rollout_seconds: float = 0.3) -> None:
        super().__init__(ca)
        self.rollout_seconds = rollout_seconds
        self.deployments = {f"api-{colour}": self._deployment(colour) for colour in ("blue", "green")}
        self.rolled_out_at = dict.fromkeys(self.deployments, 0.0)
        self.services = {
            name: {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"selector": {"app": "api", COLOUR_LABEL: colour}, "ports": [{"port": 80}]},
            }
            for name, colour in (("api-active", "blue"), ("api-preview", "green"))
        }
        apps = rf"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/(?P<name>[\w-]+)"
        core = rf"/api/v1/namespaces/{NAMESPACE}/services/(?P<name>[\w-]+)"
        self.route("GET", apps, lambda r, m: self._get(r, m, self.deployments))
        self.route("PATCH", apps, lambda r, m: self._patch(r, m, self.deployments))
        self.route("GET", core, lambda r, m: self._get(r, m, self.services))
        self.route("PATCH", core, lambda r, m: self._patch(r, m, self.services))
        self.route("GET", rf"{core}/proxy/(?P<path>.*)", self._proxy)
        self.proxied: list[tuple[str, str]] = []  # (service, path) of each request through the proxy

    def _proxy(self, request: Request, match: re.Match[str]) -> Reply:
        """The API server's service proxy: the request reaches the colour the Service selects,
        which answers its health paths with its image's tag."""
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        self.proxied.append((match["name"], match["path"]))
        colour = self.colour(match["name"])
        if match["path"] not in ("health", "health/ready"):
            return 404, {"error": "not found"}
        return 200, {"status": "healthy", "version": self.image(colour).rpartition(":")[2]}

    @staticmethod
    def _deployment(colour: str) -> dict[str, Any]:
        labels = {"app": "api", COLOUR_LABEL: colour}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"api-{colour}", "namespace": NAMESPACE, "generation": 1},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "api", "image": f"{REPOSITORY}:1.0.0"}]},
                },
            },
        }

    def colour(self, service: str) -> str:
        return self.services[service]["spec"]["selector"][COLOUR_LABEL]

    def image(self, colour: str) -> str:
        return self.deployments[f"api-{colour}"]["spec"]["template"]["spec"]["containers"][0]["image"]

    def kubeconfig(self, directory: Path, ca: trustme.CA) -> Path:
        ca_file = directory / "kubernetes-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        path = directory / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": CLUSTER,
                            "cluster": {"server": self.url, "certificate-authority": str(ca_file)},
                        }
                    ],
                    "users": [{"name": "operator", "user": {"token": TOKEN}}],
                    "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": "operator"}}],
                    "current-context": CLUSTER,
                }
            )
        )
        return path

    def _with_status(self, name: str, deployment: dict[str, Any]) -> dict[str, Any]:
        document = copy.deepcopy(deployment)
        replicas = document["spec"]["replicas"]
        done = time.monotonic() >= self.rolled_out_at[name]
        generation = document["metadata"]["generation"]
        document["status"] = {
            "observedGeneration": generation,
            "replicas": replicas if done else replicas + 1,  # an old pod lingers until the rollout ends
            "updatedReplicas": replicas if done else 1,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        return document

    def _get(self, request: Request, match: re.Match[str], objects: dict[str, dict[str, Any]]) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        found = objects.get(match["name"])
        if found is None:
            return 404, status(404, "NotFound", f"{match['name']} not found")
        return 200, self._with_status(match["name"], found) if objects is self.deployments else found

    def _patch(self, request: Request, match: re.Match[str], objects: dict[str, dict[str, Any]]) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        if request.content_type != "application/json-patch+json":
            return 415, status(415, "UnsupportedMediaType", f"{request.content_type} is not supported here")
        name = match["name"]
        try:
            patched = jsonpatch.apply_patch(objects[name], json_body(request))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            return 422, status(422, "Invalid", str(error))
        if objects is self.deployments and patched["spec"] != objects[name]["spec"]:
            patched["metadata"]["generation"] += 1
            self.rolled_out_at[name] = time.monotonic() + self.rollout_seconds
        objects[name] = patched
        return self._get(request, match, objects)
