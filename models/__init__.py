"""Probabilistic (BTYD) customer models: BG/NBD, MBG/NBD and Gamma-Gamma, and their bundle.

Fitted with :mod:`models.likelihoods` (vectorised likelihoods, analytic gradients); lifetimes
is kept as the reference implementation (``fitter="lifetimes"``).
"""

from models.bgnbd import BetaGeoModel, ModifiedBetaGeoModel
from models.btyd import BTYDModel
from models.gamma_gamma import GammaGammaModel
from models.synthetic import generate_transactions

__all__ = [
    "BTYDModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "generate_transactions",
]
