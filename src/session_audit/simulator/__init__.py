"""A faithful in-process simulator of the Tradovate endpoints session-audit uses.

>>> sim = Simulator(SimulatorConfig(users=50, sessions=500, seed=1))
>>> async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http: ...

See :class:`SimulatorConfig` for data shape, the global id space (``foreign_share``,
``quiet_ids``), visibility, faults and limits; ``sim.inject(Fault.X)`` queues faults for tests;
``sim.advance(s)`` and ``sim.foreign_activity(n)`` move the data and the id sequence on;
``sim.truth_sessions()`` is what the API serves, ``sim.all_sessions()`` everything;
``sim.stats`` counts what the server saw; ``start_background_server`` serves a simulator over
real HTTP (``session-audit simulate``). Every response's ``Date`` header is the API clock (the
data's present ``sim.now_ms``), never the wall clock.
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
