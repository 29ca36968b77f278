"""ExportSathi (seed 003) on persistence: repositories, named queries, a unit of work."""

from .service import ExportSathi

__all__ = ["ExportSathi"]
