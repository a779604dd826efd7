"""The circuit breaker over a broadcast's first sends.

Some 400s are about the message, not the person: "can't parse entities", "message is too long",
a file id Telegram does not know. Every recipient would get the same answer, so failing them one
by one would burn the whole list on a typo. Until one send of the broadcast gets through, such
refusals are held back rather than recorded; at `BREAKER_REFUSALS` of them, or when every send so
far was one, the breaker trips: the engine pauses the broadcast with the reason and the held
deliveries go back in the queue unsent, so Resume (after the cause is fixed) sends them. Once a
send has got through, the message is known to be fine, and a refusal is about that one recipient.

Only in memory, one per delivery pass: a kill loses the held outcomes, and their deliveries,
still claimed in the database, are sent again after the restart like any claimed delivery.
"""

from __future__ import annotations

import dataclasses

from bot.telegram_io.sending import SendOutcome, SendResult
from storage.broadcasts.deliveries import DeliveryOutcome
from storage.broadcasts.tables import DeliveryStatus

# Refusals of the message itself, before any send of the broadcast got through, that pause it.
# Such a refusal is a property of the message, so the same answer from five different recipients
# leaves no doubt; one or two could still be a quirk of those chats. It costs at most five wasted
# requests (plus those already in flight), and a broadcast to fewer people pauses as soon as
# every one of its sends so far was refused.
BREAKER_REFUSALS = 5


@dataclasses.dataclass
class CircuitBreaker:
    broadcast_id: int
    threshold: int = BREAKER_REFUSALS
    proven: bool = False  # a send got through: the message itself is fine
    tripped: bool = False
    paused: bool = False  # the engine's pause is committed (or the broadcast had stopped sending anyway)
    reason: str = ""
    in_flight: int = 0
    # Refused before anything was proven: failures of their own if a send gets through, else
    # back in the queue when the breaker trips.
    held: list[DeliveryOutcome] = dataclasses.field(default_factory=list)

    def take(self, outcome: DeliveryOutcome, result: SendResult) -> tuple[list[DeliveryOutcome], bool]:
        """One send came back: the outcomes to record now, and whether the breaker must trip now."""
        if result.outcome is SendOutcome.REFUSED and not self.proven:
            if self.tripped:
                # Sent before the breaker tripped, refused after: back in the queue with the others.
                return [requeued(outcome)], False
            self.held.append(outcome)
            self.reason = self.reason or result.detail
            return [], len(self.held) >= self.threshold
        if result.outcome is SendOutcome.SENT and not self.proven:
            self.proven = True
            # The message is fine after all: what was refused before was about those recipients.
            released, self.held = self.held, []
            return [*released, outcome], False
        return [outcome], False

    @property
    def every_send_refused(self) -> bool:
        """Every send of this pass has come back, and each was a refusal of the message itself."""
        return bool(self.held) and self.in_flight == 0 and not self.tripped

    def trip(self) -> None:
        self.tripped = True

    def release_held(self) -> list[DeliveryOutcome]:
        """The held deliveries, to go back in the queue unsent (neither failures nor duplicates)."""
        released, self.held = self.held, []
        return [requeued(outcome) for outcome in released]


def requeued(outcome: DeliveryOutcome) -> DeliveryOutcome:
    return dataclasses.replace(outcome, status=DeliveryStatus.PENDING)
