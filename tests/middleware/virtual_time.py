"""Virtual time for the layers that take a clock and a sleep (Retry, CircuitBreaker, Fallback)."""


class VirtualClock:
    """A monotonic clock tests move by hand; `sleep` moves it on at once and records the wait."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
