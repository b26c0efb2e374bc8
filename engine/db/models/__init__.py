"""Tables (SQLAlchemy 2 declarative), one module per concern; importing the package registers
them all in ``Base.metadata``. Alembic migrations in ``migrations/`` create them.

Card numbers and CVCs have no column anywhere: only brand, last four and expiry are stored.
"""

from engine.db.models.accounts import ApiKey, Merchant, User
from engine.db.models.audit import AuditLog
from engine.db.models.base import NAMING, Base
from engine.db.models.events import Event
from engine.db.models.idempotency import IdempotencyKey
from engine.db.models.payments import Payment, PaymentEvent, Refund
from engine.db.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "NAMING",
    "ApiKey",
    "AuditLog",
    "Base",
    "Event",
    "IdempotencyKey",
    "Merchant",
    "Payment",
    "PaymentEvent",
    "Refund",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
