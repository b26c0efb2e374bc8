"""Dead letters keep no card data: the sealed arguments are removed before a message is nacked.

Dramatiq's Redis broker dead-letters a message (retries exhausted, too old, or failed on purpose)
by moving its stored copy from ``<queue>.msgs`` into ``<queue>.XQ.msgs``, where it stays for days.
For ``process_payment`` that copy holds the sealed payment method. ``before_nack`` rewrites the
stored copy first, so the broker moves a copy whose sealed arguments are ``REMOVED_ARGUMENT``; the
ids (message, actor, payment, request) stay, so ``easypay dlq list`` still names the payment. A
``dlq retry`` of it makes the actor read the method's stash copy (``engine.method_stash``), or fail
the payment when that is gone too (expired, or lost: ``engine.method_loss``): nothing is charged on a guess.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from redis.exceptions import RedisError

from jobs.names import REMOVED_ARGUMENT, SEALED_ARGUMENTS

log = logging.getLogger(__name__)

#: KEYS[1] = ``<queue>.msgs``; ARGV = id, scrubbed message. Only a copy still stored is replaced
#: (one the broker already dropped must not come back).
_REPLACE_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


def scrubbed(message: dramatiq.Message) -> dramatiq.Message | None:
    """``message`` with its sealed arguments replaced by ``REMOVED_ARGUMENT``; None if it has none."""
    positions = [i for i in SEALED_ARGUMENTS.get(message.actor_name, ()) if i < len(message.args)]
    if not positions or all(message.args[i] == REMOVED_ARGUMENT for i in positions):
        return None
    args = list(message.args)
    for i in positions:
        args[i] = REMOVED_ARGUMENT
    return message.copy(args=tuple(args))


class ScrubSealedArguments(dramatiq.Middleware):
    """Rewrites the broker's stored copy of a failed message without its sealed arguments."""

    def before_nack(self, broker: Any, message: Any) -> None:
        clean = scrubbed(message._message if hasattr(message, "_message") else message)
        if clean is None:
            return
        key = f"{broker.namespace}:{message.queue_name}.msgs"
        try:
            broker.client.eval(_REPLACE_LUA, 1, key, message.options["redis_message_id"], clean.encode())
        except RedisError as exc:  # the nack fails the same way; the message is then redelivered
            log.error("could not remove the sealed arguments of message %s: %s", message.message_id, exc)
