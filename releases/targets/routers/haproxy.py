"""HAProxy through its runtime API: weights of the `stable`/`canary` servers, their health, and
their addresses (which the sandbox slot pair exchanges to swap).

The runtime API is a line protocol on a socket: one connection per command line, several
commands separated by `;` run one after the other with nothing in between, which is how a swap
changes both addresses at once. Its `admin` level changes where traffic goes, so it listens on a
unix socket of mode 0600 (only the user running the sandbox may connect), never on a TCP port any
local process could reach.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass

from releases.errors import Refused, VerificationFailed
from releases.model import Pool, Weights

# HAProxy weights are integers (0..256); 100 steps give the weights a 1% resolution, which is the
# resolution of `--percent` itself.
WEIGHT_SCALE = 100


class RuntimeAPI:
    """HAProxy's runtime API on its unix socket (`stats socket <path> mode 600 level admin`)."""

    def __init__(self, socket_path: str, timeout: float = 5.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def run(self, *commands: str) -> str:
        line = "; ".join(commands) + "\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(self.timeout)
                connection.connect(self.socket_path)
                connection.sendall(line.encode())
                chunks = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise Refused(
                f"HAProxy runtime API at {self.socket_path} is unreachable ({error}); "
                "is the sandbox running? Start it with `invoke sandbox.up`"
            ) from None
        return b"".join(chunks).decode()


@dataclass(frozen=True)
class ServerState:
    name: str
    address: str
    port: int
    running: bool
    weight: int


def server_states(api: RuntimeAPI, backend: str) -> dict[str, ServerState]:
    """Parse `show servers state`: a version line, a `#` header naming the columns, then rows."""
    output = api.run(f"show servers state {backend}")
    lines = [line for line in output.splitlines() if line.strip()]
    header = next((line for line in lines if line.startswith("#")), None)
    if header is None:
        raise VerificationFailed(f"HAProxy answered `show servers state {backend}` with: {output.strip()}")
    columns = header.lstrip("# ").split()
    states = {}
    for line in lines[lines.index(header) + 1 :]:
        row = dict(zip(columns, line.split(), strict=False))
        states[row["srv_name"]] = ServerState(
            name=row["srv_name"],
            address=row["srv_addr"],
            port=int(row["srv_port"]),
            # srv_op_state 2 is SRV_ST_RUNNING: up according to its health checks.
            running=row["srv_op_state"] == "2",
            weight=int(row["srv_uweight"]),
        )
    missing = {pool.value for pool in Pool} - states.keys()
    if missing:
        raise VerificationFailed(f"HAProxy backend {backend} has no server(s) named {sorted(missing)}")
    return states


class HAProxyRouter:
    """Weights as shares: HAProxy's weights are relative, so this router takes and returns weights
    that add up to 1, which every weight the engine writes does (a percent split or all stable).

    Weights are written reduced to their smallest ratio (50% is 1:1, 10% is 1:9). `roundrobin`
    keeps a rotation as long as the sum of the weights; after a change it can let the server
    whose weight rose take every pick until its position catches up, which with 50:50 was more
    than a hundred requests in a row (a 10% -> 50% step measured 60-66%). A short rotation
    bounds that catch-up to a handful of requests; measured within 0.8 points of the target.
    """

    def __init__(self, api: RuntimeAPI, backend: str) -> None:
        self.api = api
        self.backend = backend

    def read_weights(self) -> Weights:
        states = server_states(self.api, self.backend)
        stable, canary = states[Pool.STABLE].weight, states[Pool.CANARY].weight
        if stable + canary == 0:
            raise VerificationFailed(f"HAProxy backend {self.backend} has weight 0 on both servers")
        return Weights(stable=stable / (stable + canary), canary=canary / (stable + canary))

    def write_weights(self, weights: Weights) -> None:
        if not math.isclose(weights.stable + weights.canary, 1.0):
            raise ValueError(f"the sandbox router takes shares that add up to 1, got {weights}")
        stable, canary = round(weights.stable * WEIGHT_SCALE), round(weights.canary * WEIGHT_SCALE)
        divisor = math.gcd(stable, canary)
        output = self.api.run(
            f"set weight {self.backend}/{Pool.STABLE.value} {stable // divisor}",
            f"set weight {self.backend}/{Pool.CANARY.value} {canary // divisor}",
        )
        if output.strip():
            raise VerificationFailed(f"HAProxy refused the weights {weights}: {output.strip()}")

    def pool_up(self, pool: Pool) -> bool:
        return server_states(self.api, self.backend)[pool].running
