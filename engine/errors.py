"""The root of every exception the engine raises, and the map of all of them.

One root lets a caller (the API's problem table, a worker's last-resort handler) tell "the engine
refused or failed in a way it names" from a bug (anything else). Each class stays in the module
whose code raises it, next to the code that explains it; a class that also means a built-in
failure keeps that base too (``PaymentNotFound`` is a ``LookupError``, ``AmountError`` a
``ValueError``), so callers catching the built-in still catch it. This module imports nothing
of the engine, so any engine module can import it without a cycle.

The hierarchy (``tests/unit/test_error_tree.py`` checks it against the code: every exception
class of ``engine`` is drawn here, under its real parent, with the module that defines it)::

    EasyPayError
    ├── AmountError (ValueError) ............. engine.money
    ├── CurrencyError (ValueError) ........... engine.money
    ├── SettingsError (ValueError) ........... engine.settings_loader
    ├── PaymentNotFound (LookupError) ........ engine.db.payments
    ├── RefundNotFound (LookupError) ......... engine.db.refunds
    ├── EventNotFound (LookupError) .......... engine.db.events
    ├── EndpointNotFound (LookupError) ....... engine.db.webhook_endpoints
    ├── ApiKeyNotFound (LookupError) ......... engine.db.accounts
    ├── UserNotFound (LookupError) ........... engine.db.accounts
    ├── CreatorDisabled ...................... engine.db.accounts
    ├── IdempotencyKeyReused ................. engine.idempotency
    ├── IdempotencyKeyInUse .................. engine.idempotency
    ├── OperationRefused ..................... engine.lifecycle
    │   └── ReconciliationRequired ........... engine.lifecycle
    ├── IllegalTransition .................... engine.states
    ├── IllegalRefundTransition .............. engine.states
    ├── QueueUnavailable ..................... engine.accept_batch
    ├── _NotQueued ........................... engine.accept_batch
    ├── HashingBusy .......................... engine.passwords
    ├── ProcessorUnavailable ................. engine.resends
    ├── PaymentNotVisible .................... engine.job_deps
    ├── RequestBuildError (ValueError) ....... engine.processor.wire.requests
    ├── ResponseParseError ................... engine.processor.wire.responses
    ├── SealError ............................ engine.sealing
    │   ├── SealExpired ...................... engine.sealing
    │   ├── SealInvalid ...................... engine.sealing
    │   ├── SealKeyUnknown ................... engine.sealing
    │   └── SecretUnreadable ................. engine.sealing
    ├── UnsafeUrl (ValueError) ............... engine.webhooks.addresses
    ├── BlockedAddress ....................... engine.webhooks.addresses
    └── UnresolvableHost ..................... engine.webhooks.addresses

Which of them answer an HTTP request, and how, is one table: ``api.problems.ENGINE_PROBLEMS``.
"""

from __future__ import annotations


class EasyPayError(Exception):
    """Something the engine raises on purpose; its subclasses say what."""


__all__ = ["EasyPayError"]
