"""Board profiles: the cycle cost of each modelled operation on a given machine."""
from .espressobin import ESPRESSOBIN

__all__ = ["ESPRESSOBIN"]
