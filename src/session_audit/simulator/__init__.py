"""A faithful in-process simulator of the Tradovate endpoints session-audit uses.

>>> sim = Simulator(SimulatorConfig(users=50, sessions=500, seed=1))
>>> async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http: ...

See :class:`SimulatorConfig` for data shape, faults and limits; ``sim.inject(Fault.X)`` queues
faults for tests; ``sim.stats`` counts what the server saw; ``start_background_server`` serves a
simulator over real HTTP (``session-audit simulate``).
"""

from __future__ import annotations

from session_audit.simulator.app import IN_PROCESS_BASE_URL, Simulator
from session_audit.simulator.config import Credentials, SimulatorConfig
from session_audit.simulator.faults import Fault
from session_audit.simulator.server import start_background_server
from session_audit.simulator.stats import SimulatorStats

__all__ = [
    "IN_PROCESS_BASE_URL",
    "Credentials",
    "Fault",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
    "start_background_server",
]
