"""M&A predictor (seed 001) on persistence: async repositories and named queries."""

from .service import Predictor

__all__ = ["Predictor"]
