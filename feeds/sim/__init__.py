"""The OneMap event simulator: incidents and grid workers of Ningbo in real time.

    from feeds.sim import Model, SimConfig
    from feeds.sim.run import run, add_arguments, config_from_args

``Model`` is the deterministic generator (no clock, no Redis); ``feeds.sim.run.run`` drives it
against the wall clock and a ``Bus``. docs/simulator.md describes what is modelled and the rates
it produces. (``run`` is not re-exported here: it would shadow the ``feeds.sim.run`` module.)
"""

from feeds.sim.model import Model
from feeds.sim.options import SimConfig

__all__ = ["Model", "SimConfig"]
