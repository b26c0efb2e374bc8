"""Checks a schema cannot express; every problem names its field. Nothing here touches storage."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Iterator


from api.problems import FieldProblem
from api.schemas import PaymentCreate
from engine.cards import MIN_NUMBER_DIGITS, detect_brand, find_card_numbers, last4, validate_card
from engine.money import AmountError, CurrencyError, parse_amount
from engine.payments import NewPayment
from engine.processor import Card, OpaqueData

#: Authorize.net's schema limit for ``creditCard.cardNumber``.
PROCESSOR_MAX_CARD_DIGITS = 16
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500
#: Body fields that carry card data or a secret on purpose: sealed or hashed, never stored as text.
CARD_DATA_FIELDS = frozenset(
    {"payment_method.card.number", "payment_method.card.cvc", "payment_method.opaque_data.value", "password"}
)
#: Random identifiers (UUIDs, long hex tokens) are not free text: their digit runs are chance, not cards.
#: Twelve digits with at most one separator between neighbours: the least a card number in text
#: needs (``engine.cards.find_card_numbers`` joins groups by one space, dash or dot). Cheap to
#: search, so the exact detector only runs on texts that pass it.
_MAY_HOLD_CARD = re.compile(r"[0-9](?:[ .-]?[0-9]){11}")
_IDENTIFIER_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(?=[0-9]*[a-fA-F])[0-9a-fA-F]{32,}"
)
_CARD_IN_TEXT = "Looks like a card number; card numbers are accepted only in payment_method.card.number."
OPAQUE_DESCRIPTORS = frozenset(
    {"COMMON.ACCEPT.INAPP.PAYMENT", "COMMON.APPLE.INAPP.PAYMENT", "COMMON.GOOGLE.INAPP.PAYMENT"}
)


def validate_payment(
    body: PaymentCreate, *, merchant_id: uuid.UUID, today: dt.date, currencies: frozenset[str]
) -> tuple[NewPayment, Card | OpaqueData] | list[FieldProblem]:
    """Return the payment to record and its secret method, or every problem found.

    ``currencies``: what the processor takes; any other currency would only fail later, at the
    processor, so it is refused here.
    """
    errors: list[FieldProblem] = []
    amount_minor = 0
    try:
        amount_minor = parse_amount(body.amount, body.currency)
    except CurrencyError as exc:
        errors.append(FieldProblem("currency", str(exc)))
    except AmountError as exc:
        errors.append(FieldProblem("amount", str(exc)))
    else:
        if body.currency not in currencies:
            accepted = ", ".join(sorted(currencies))
            errors.append(FieldProblem("currency", f"{body.currency} is not processed here; accepted: {accepted}."))

    method = _validate_method(body, today, errors)
    _validate_metadata(body.metadata or {}, errors)
    _refuse_nul_characters(body, errors)
    if errors or method is None:
        return errors

    card_fields: dict[str, object] = {}
    if isinstance(method, Card):
        card_fields = {
            "card_brand": detect_brand(method.number).value,
            "card_last4": last4(method.number),
            "card_exp_month": method.exp_month,
            "card_exp_year": method.exp_year,
        }
    billing = None
    if body.billing is not None:
        billing = {k: getattr(body.billing, k) for k in body.billing.__struct_fields__ if getattr(body.billing, k)}
    new = NewPayment(
        merchant_id=merchant_id,
        amount_minor=amount_minor,
        currency=body.currency,
        capture=body.capture,
        payment_method_type=body.payment_method.type,
        customer_id=body.customer_id,
        description=body.description,
        metadata=dict(body.metadata or {}),
        billing=billing or None,
        **card_fields,  # type: ignore[arg-type]
    )
    return new, method


def _validate_method(body: PaymentCreate, today: dt.date, errors: list[FieldProblem]) -> Card | OpaqueData | None:
    pm = body.payment_method
    if pm.type == "card":
        if pm.opaque_data is not None:
            errors.append(FieldProblem("payment_method.opaque_data", "Not allowed when type is card."))
        if pm.card is None:
            errors.append(FieldProblem("payment_method.card", "Required when type is card."))
            return None
        card = pm.card
        problems = [
            FieldProblem(p.field, p.message)
            for p in validate_card(card.number, card.exp_month, card.exp_year, card.cvc, today=today)
        ]
        if not problems and len(card.number) > PROCESSOR_MAX_CARD_DIGITS:
            problems.append(
                FieldProblem(
                    "payment_method.card.number",
                    f"Card numbers longer than {PROCESSOR_MAX_CARD_DIGITS} digits are not supported by the processor.",
                )
            )
        errors.extend(problems)
        if problems:
            return None
        return Card(number=card.number, exp_month=card.exp_month, exp_year=card.exp_year, cvc=card.cvc)
    if pm.card is not None:
        errors.append(FieldProblem("payment_method.card", "Not allowed when type is opaque."))
    if pm.opaque_data is None:
        errors.append(FieldProblem("payment_method.opaque_data", "Required when type is opaque."))
        return None
    opaque = pm.opaque_data
    if opaque.descriptor not in OPAQUE_DESCRIPTORS:
        errors.append(
            FieldProblem(
                "payment_method.opaque_data.descriptor",
                f"Must be one of {', '.join(sorted(OPAQUE_DESCRIPTORS))}.",
            )
        )
        return None
    if not opaque.value.isascii() or any(c.isspace() for c in opaque.value):
        errors.append(FieldProblem("payment_method.opaque_data.value", "Must be the nonce exactly as issued."))
        return None
    return OpaqueData(descriptor=opaque.descriptor, value=opaque.value)


def _refuse_nul_characters(body: PaymentCreate, errors: list[FieldProblem]) -> None:
    """PostgreSQL text cannot hold U+0000: refuse it here, naming the field, rather than fail at insert."""
    texts: list[tuple[str, str | None]] = [("description", body.description)]
    texts += [(f"metadata.{key}", value) for key, value in (body.metadata or {}).items()]
    texts += [("metadata", key) for key in (body.metadata or {})]
    if body.billing is not None:
        texts += [(f"billing.{name}", getattr(body.billing, name)) for name in body.billing.__struct_fields__]
    for field, value in texts:
        if value is not None and "\x00" in value:
            errors.append(FieldProblem(field, "Must not contain NUL (U+0000) characters."))


def _validate_metadata(metadata: dict[str, str], errors: list[FieldProblem]) -> None:
    if len(metadata) > METADATA_MAX_KEYS:
        errors.append(FieldProblem("metadata", f"At most {METADATA_MAX_KEYS} keys."))
    for key, value in metadata.items():
        if not key or len(key) > METADATA_MAX_KEY_LENGTH or "[" in key or "]" in key:
            errors.append(
                FieldProblem("metadata", f"Keys are 1-{METADATA_MAX_KEY_LENGTH} characters without brackets.")
            )
            break
        if len(value) > METADATA_MAX_VALUE_LENGTH:
            errors.append(FieldProblem(f"metadata.{key}", f"At most {METADATA_MAX_VALUE_LENGTH} characters."))


def card_number_problems(decoded: object, idempotency_key: str | None) -> list[FieldProblem]:
    """Every text of a write request that holds a card number, by field: refused, because whatever
    the client sends as text (descriptions, metadata keys and values, names, the Idempotency-Key)
    is stored and shown in the clear. One check of the whole decoded JSON body (None: no body)
    serves every write route. Texts too short to hold a card number are not scanned.
    """
    texts: list[tuple[str, str]] = [("Idempotency-Key", idempotency_key)] if idempotency_key else []
    if decoded is not None:
        texts += _texts(decoded, "")
    problems: list[FieldProblem] = []
    for field, text in texts:
        if len(text) < MIN_NUMBER_DIGITS or field in CARD_DATA_FIELDS or _MAY_HOLD_CARD.search(text) is None:
            continue
        if _IDENTIFIER_RE.fullmatch(text) is None and find_card_numbers(text):
            problems.append(FieldProblem(field, _CARD_IN_TEXT))
    return problems


_MAY_HOLD_CARD_BYTES = re.compile(_MAY_HOLD_CARD.pattern.encode())
#: ``CARD_DATA_FIELDS`` as paths into a decoded body.
_CARD_DATA_PATHS = tuple(tuple(field.split(".")) for field in sorted(CARD_DATA_FIELDS))


def _at(decoded: object, path: tuple[str, ...]) -> object:
    for name in path:
        if not isinstance(decoded, dict):
            return None
        decoded = decoded.get(name)
    return decoded


def may_hold_card_text(body: bytes, decoded: object) -> bool:
    """False only when no text of ``body`` (JSON bytes; ``decoded``: the same, decoded) outside
    ``CARD_DATA_FIELDS`` can hold a card number: one precompiled scan of the raw bytes with the
    card-data values taken out, and the Luhn detector only when that scan finds a candidate.

    Every text of a JSON body is a contiguous stretch of its bytes, delimited by quotes (neither a
    digit nor a separator), so a card number in any text is a candidate of the whole body. Escapes
    are the exception only when they are ``\\u`` ones (they may spell digits): then True. A
    card-data value is taken out only where it stands alone, quoted, exactly once; else it stays
    in (and is scanned), so this can only answer True more often than the exact check.
    True means "ask ``card_number_problems``", which names the fields.
    """
    if b"\\u" in body:
        return True
    rest = body
    for path in _CARD_DATA_PATHS:
        value = _at(decoded, path)
        if isinstance(value, str) and value:
            quoted = b'"' + value.encode() + b'"'
            found = rest.count(quoted)
            if found > 1:
                return True
            if found == 1:
                rest = rest.replace(quoted, b'""')
    if _MAY_HOLD_CARD_BYTES.search(rest) is None:
        return False
    return bool(find_card_numbers(rest.decode("utf-8", "replace")))


def _texts(value: object, path: str) -> Iterator[tuple[str, str]]:
    """(field path, text) of every string in a decoded JSON value, object keys included (a key is
    reported under its object's path, like the NUL check does for metadata keys)."""
    if isinstance(value, str):
        yield path or "body", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield path or "body", key
            yield from _texts(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, f"{path}[{index}]")
