"""Everything one sandbox remembers, shared by both backends' handlers and the control API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.clock import Clock
from sandbox.faults import Faults
from sandbox.notify_config import NotifyConfiguration
from sandbox.otp_store import OtpStore
from sandbox.outbox import Message, Outbox
from sandbox.stats import Stats


@dataclass
class SandboxState:
    """Known resources, codes, outbox, faults, stats and clock; ``reset`` forgets all but
    the known resources. Each backend has its own code store: codes never cross over."""

    app_ids: frozenset[str]
    on_message: Callable[[Message], None] | None = None
    notify_configurations: dict[str, NotifyConfiguration] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self.codes = OtpStore(self.clock)
        self.notify_codes = OtpStore(self.clock)
        self.outbox = Outbox(self.on_message)

    def reset(self) -> None:
        self.outbox.clear()
        self.codes.clear()
        self.notify_codes.clear()
        self.faults.clear()
        self.stats.reset()
        self.clock.reset()
