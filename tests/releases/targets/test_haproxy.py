"""The HAProxy router's weight arithmetic, against a runtime API that answers like HAProxy 2.6."""

from __future__ import annotations

import pytest

from releases.errors import VerificationFailed
from releases.model import Weights
from releases.targets.routers.haproxy import HAProxyRouter, RuntimeAPI

HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
)


class RecordingAPI(RuntimeAPI):
    """Keeps the servers' weights as HAProxy would and records every command line."""

    def __init__(self) -> None:
        super().__init__("/nonexistent/haproxy.sock")
        self.weights = {"stable": 1, "canary": 0}
        self.lines: list[tuple[str, ...]] = []

    def run(self, *commands: str) -> str:
        self.lines.append(commands)
        for command in commands:
            if command.startswith("set weight "):
                server, weight = command.removeprefix("set weight web/").split()
                self.weights[server] = int(weight)
        rows = "".join(
            f"4 web {n} {name} 127.0.0.1 2 0 {weight} {weight} 0 15 3 3 6 0 0 0 - {8000 + n} - 0 0 - - 0\n"
            for n, (name, weight) in enumerate(self.weights.items(), start=1)
        )
        return HEADER + rows if commands[0].startswith("show servers state") else ""


@pytest.mark.parametrize(
    ("percent", "written"),
    [(10, ("9", "1")), (50, ("1", "1")), (37, ("63", "37")), (0, ("1", "0"))],
)
def test_weights_are_written_at_their_smallest_ratio_in_one_line(
    percent: int, written: tuple[str, str]
) -> None:
    api = RecordingAPI()
    router = HAProxyRouter(api, "web")
    router.write_weights(Weights.canary_percent(percent))
    assert api.lines == [(f"set weight web/stable {written[0]}", f"set weight web/canary {written[1]}")]
    assert router.read_weights().matches(Weights.canary_percent(percent))


def test_weights_that_are_not_shares_are_refused_before_writing() -> None:
    api = RecordingAPI()
    with pytest.raises(ValueError, match="shares that add up to 1"):
        HAProxyRouter(api, "web").write_weights(Weights(stable=1.0, canary=0.5))
    assert api.lines == []


def test_both_weights_zero_is_a_verification_failure() -> None:
    api = RecordingAPI()
    api.weights = {"stable": 0, "canary": 0}
    with pytest.raises(VerificationFailed, match="weight 0 on both servers"):
        HAProxyRouter(api, "web").read_weights()
