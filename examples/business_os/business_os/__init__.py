"""Business OS (seed 004) on persistence: repositories, named queries, a service."""

from .service import BusinessOS

__all__ = ["BusinessOS"]
