"""Cost estimate of a plan from a dated list-price table (see prices_<cloud>.json)."""

from mlinfra.cost.estimator import estimate_plan, load_prices

__all__ = ["estimate_plan", "load_prices"]
