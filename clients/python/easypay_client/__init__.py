"""EasyPay's Python client.

    from easypay_client import Client
    client = Client()                       # EASYPAY_BASE_URL, EASYPAY_API_KEY
    payment = client.payments.create(amount="12.50", currency="USD",
                                     card={"number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvc": "123"})
    payment = client.wait_for(payment.id, timeout_s=30)
"""

from easypay_client._config import Config
from easypay_client._core import RetryPolicy
from easypay_client.client import AsyncClient, Client
from easypay_client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    EasyPayError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
    WaitTimeout,
    WebhookVerificationError,
)
from easypay_client.models import (
    ApiKey,
    Billing,
    CardDetails,
    OpaqueData,
    AuditLog,
    Event,
    FieldError,
    Page,
    Payment,
    Refund,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from easypay_client.webhooks import WebhookVerifier, parse_event, sign, signature_headers

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError", "APIError", "ApiKey", "AsyncClient", "AuditLog", "AuthenticationError", "BadRequestError",
    "Billing", "CardDetails", "Client", "Config", "ConfigurationError", "ConflictError", "EasyPayError", "Event",
    "FieldError", "IdempotencyKeyInUseError", "IdempotencyKeyReusedError", "NotFoundError", "OpaqueData", "Page",
    "Payment", "PermissionDeniedError", "RateLimitError", "Refund", "RetryPolicy", "ServerError",
    "ServiceUnavailableError", "User", "ValidationError", "WaitTimeout", "WebhookDelivery", "WebhookEndpoint",
    "WebhookVerificationError", "WebhookVerifier", "parse_event", "sign", "signature_headers",
]
