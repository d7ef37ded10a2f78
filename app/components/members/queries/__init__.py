"""The SQL of the members domain's tables, one module per table group; the domain's other modules call these."""

__all__: list[str] = []
