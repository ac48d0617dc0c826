"""Terminal handlers that speak each vendor's HTTP API."""

__all__: list[str] = []
