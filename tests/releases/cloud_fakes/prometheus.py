"""Prometheus's instant-query API for the API's own metrics, labelled by colour: each colour's
figures follow the version its Deployment runs (`bad_versions` answer 10% 5xx and slow)."""

from __future__ import annotations

import re
from collections.abc import Callable

from werkzeug import Request

from tests.releases.cloud_fakes.http import FakeAPI, Reply

COLOUR = re.compile(r'colour="(?P<colour>\w+)"')


class FakePrometheus(FakeAPI):
    def __init__(self, version_of: Callable[[str], str]) -> None:
        super().__init__()
        self.version_of = version_of  # colour -> the version it serves
        self.bad_versions: set[str] = set()
        self.route("GET", r"/api/v1/query", self._query)

    def _query(self, request: Request, match: re.Match[str]) -> Reply:
        query = request.args["query"]
        colour = COLOUR.search(query)
        if colour is None:
            return 400, {"status": "error", "errorType": "bad_data", "error": "no colour in the query"}
        bad = self.version_of(colour["colour"]) in self.bad_versions
        if query.startswith("histogram_quantile"):
            value = 0.9 if bad else 0.05
        elif 'status=~"5.."' in query:
            value = 100.0 if bad else 0.0
        else:
            value = 1000.0
        sample = {"metric": {}, "value": [0, str(value)]}
        return 200, {"status": "success", "data": {"resultType": "vector", "result": [sample]}}
