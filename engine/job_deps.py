"""What every worker use case is given (``ProcessingDeps``) and what it answers (``Result``).

The charge (``engine.processing``), the operations (``engine.operations``), what is done with
their answers (``engine.outcomes``), reconciliation and the sweeps all take the same deps, built
once per worker process (``workers.runtime``) or by a test.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.cache import PaymentCache
from engine.errors import EasyPayError
from engine.processor import ProcessorClient
from engine.sealing import Sealer
from engine.settings import LifecycleSettings


class PaymentNotVisible(EasyPayError):
    """The message arrived before the API's transaction committed (or that commit failed).

    Retried with backoff; if the row never appears, the API's commit failed and the client was
    told so, so dropping the message is correct.
    """


#: How long a worker waits in-process for a payment row the API is still committing.
VISIBILITY_WAIT_S = 2.0


class Result(StrEnum):
    IGNORED = "ignored"  #: a duplicate message, or the payment is already past processing
    FINISHED = "finished"  #: a final status was recorded
    UNKNOWN = "unknown"  #: left in processing for reconciliation


@dataclass
class ProcessingDeps:
    engine: AsyncEngine
    client: ProcessorClient
    sealer: Sealer
    cache: PaymentCache
    #: Resends of a charge whose outcome is unknown, and the first wait between them.
    unknown_outcome_resends: int = 3
    resend_backoff_s: float = 0.5
    sleep: Any = field(default=asyncio.sleep)
    #: ``engine.method_stash.MethodStash`` (None: no copy of sealed methods is kept).
    stash: Any = None
    #: Something with the async ``process_payment``/``capture_payment``/``void_payment``/
    #: ``process_refund``/``reconcile_payment`` senders of ``jobs.sender.JobSender``.
    jobs: Any = None
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    #: The duplicateWindow sent with charges: resending the identical request is safe inside it.
    duplicate_window_s: int = 28_800
    #: ``CARD_MESSAGE_TTL_S``: how long a sealed method is kept; a copy gone sooner was lost
    #: (``engine.method_loss``).
    card_message_ttl_s: int = 1800
