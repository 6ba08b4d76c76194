"""The server's knobs, in one frozen dataclass the CLI fills from flags."""

from __future__ import annotations

import dataclasses

from fieldguide.errors import FieldguideError


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """How the server batches, validates, logs and reloads.

    max_batch_rows: a micro-batch runs as soon as it holds this many rows (one larger request runs alone).
    max_latency_ms: or as soon as its oldest request has waited this long; 0 runs whatever is queued at once.
    max_body_bytes, max_rows: larger requests are refused with HTTP 413 before any parsing or model code.
    strict: unknown categories and unknown fields are errors (HTTP 400) instead of warnings in the response.
    poll_s: how often to ask the registry whether the served alias moved (0 never asks).
    log_batch_rows, log_interval_s: the prediction log is written when this many rows are waiting, or this often.
    admin_token: bearer token of ``/admin/*``; ``None`` disables those routes. Never shown in ``repr``.

    >>> ServeSettings(max_batch_rows=256).max_latency_ms
    5.0
    """

    max_batch_rows: int = 1024
    max_latency_ms: float = 5.0
    max_body_bytes: int = 8 << 20
    max_rows: int = 10_000
    strict: bool = False
    poll_s: float = 5.0
    log_batch_rows: int = 500
    log_interval_s: float = 0.2
    admin_token: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_batch_rows", "max_body_bytes", "max_rows", "log_batch_rows"):
            if getattr(self, name) < 1:
                raise FieldguideError(f"serve setting {name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_latency_ms", "poll_s", "log_interval_s"):
            if not getattr(self, name) >= 0:
                raise FieldguideError(f"serve setting {name} must be >= 0, got {getattr(self, name)}")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise FieldguideError(
                "FIELDGUIDE_ADMIN_TOKEN must be at least 16 characters long (it guards /admin routes); "
                f"it has {len(self.admin_token)}"
            )
