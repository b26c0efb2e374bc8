"""Transaction state and the gateway's rules (docs/authorizenet.md: "Duplicate detection", "Reason codes",
"Capture, void and refund rules", "Transaction states").

Rule: only this module changes a transaction's ``status``. Every change goes
through :data:`TRANSITIONS`; the emulator is single-threaded (one asyncio loop),
so each public call is atomic.

The states and their transitions are in ``sandbox.transactions``.

Card data: only the last four digits and the brand are kept. Duplicate
detection keys on a SHA-256 of the compared fields (docs/authorizenet.md, "Duplicate detection").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import string
import time

from sandbox import cards
from sandbox.config import Config
from sandbox.transactions import (
    AUTH_EXPIRY_S,
    AUTH_PENDING,
    AUTH_TYPES,
    Batch,
    CAPTURED,
    CENT,
    Clock,
    DECLINED,
    DEFAULT_DUPLICATE_WINDOW_S,
    IllegalTransition,
    MAX_DUPLICATE_WINDOW_S,
    Outcome,
    REFUND_AGE_LIMIT_S,
    REFUND_PENDING,
    SETTLED,
    TEXT,
    TRANSITIONS,
    Txn,
    VOIDED,
    error_outcome,
    ok_outcome,
    valid_amount,
    money,
)
from sandbox.render import TxnResponse
from sandbox.wire import Envelope, TxnRequest


class Ledger:
    """All transactions and batches of one emulator process, with the gateway rules."""

    def __init__(self, config: Config, clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.rng = rng or random.Random()
        # transIds are unique per process; seeding from the wall clock keeps them from
        # repeating across restarts at ordinary rates (real ids look like 60012345678).
        self._next_id = 60_000_000_001 + max(0, int((time.time() - 1_704_067_200) * 10))
        self._next_batch = 10_000_001
        self.reset()

    # ------------------------------------------------------------------ housekeeping

    def reset(self) -> None:
        """Forget every transaction, batch and duplicate key (the clock is reset separately)."""
        self.txns: dict[str, Txn] = {}
        self.batches: list[Batch] = []
        self._dups: dict[bytes, str] = {}
        self._dups_prune_at = 10_000

    def _remember(self, key: bytes, trans_id: str) -> None:
        """Index a stored transaction for duplicate checks; drop keys older than the maximum window."""
        self._dups[key] = trans_id
        if len(self._dups) > self._dups_prune_at:
            cutoff = self.clock.now() - MAX_DUPLICATE_WINDOW_S
            self._dups = {k: v for k, v in self._dups.items() if v in self.txns and self.txns[v].submit_ts >= cutoff}
            self._dups_prune_at = max(10_000, 2 * len(self._dups))

    def _new_id(self) -> str:
        tid = str(self._next_id)
        self._next_id += 1
        return tid

    def _code(self, n: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def _move(self, t: Txn, event: str) -> None:
        new = TRANSITIONS[t.status].get(event)
        if new is None:
            raise IllegalTransition(f"{t.status} --{event}-->")
        t.status = new

    def _refresh(self, t: Txn, now: float) -> None:
        if t.status == AUTH_PENDING and now - t.submit_ts > AUTH_EXPIRY_S:
            self._move(t, "expire")

    def get(self, trans_id: str) -> Txn | None:
        t = self.txns.get(trans_id)
        if t is not None:
            self._refresh(t, self.clock.now())
        return t

    def all(self) -> list[Txn]:
        now = self.clock.now()
        for t in self.txns.values():
            self._refresh(t, now)
        return list(self.txns.values())

    def rows(self, invoice_number: str | None = None) -> list[dict]:
        return [t.row() for t in self.all() if invoice_number is None or t.invoice_number == invoice_number]

    def settle(self) -> dict:
        """Close a batch: captured -> settledSuccessfully, pending refunds -> refundSettledSuccessfully.

        Voided, declined and expired transactions not yet in a batch are attached to it
        too (they then leave the unsettled list). Returns ``{"settled": n, "batch_id": ...}``.
        """
        now = self.clock.now()
        batch = Batch(str(self._next_batch), now, [])
        settled = 0
        for t in self.all():
            if t.batch_id is not None or t.status == AUTH_PENDING:
                continue
            if t.status in (CAPTURED, REFUND_PENDING):
                self._move(t, "settle")
                settled += 1
            t.batch_id = batch.batch_id
            batch.trans_ids.append(t.trans_id)
        if batch.trans_ids:
            self._next_batch += 1
            self.batches.append(batch)
            return {"settled": settled, "batch_id": batch.batch_id}
        return {"settled": 0, "batch_id": None}

    def batch_time(self, t: Txn) -> float | None:
        for b in self.batches:
            if b.batch_id == t.batch_id:
                return b.settle_ts
        return None

    # ------------------------------------------------------------------ createTransaction

    def create(self, req: TxnRequest, env: Envelope) -> Outcome:
        """Apply one ``transactionRequest``; returns the response content."""
        kind = req.transaction_type
        if kind in AUTH_TYPES:
            return self._authorize(req, env)
        if kind == "priorAuthCaptureTransaction":
            return self._capture(req)
        if kind == "voidTransaction":
            return self._void(req)
        if kind == "refundTransaction":
            return self._refund(req, env)
        raise AssertionError(kind)  # filtered by the caller

    def _duplicate_window(self, req: TxnRequest) -> int:
        raw = req.settings.get("duplicateWindow")
        if raw is None:
            return DEFAULT_DUPLICATE_WINDOW_S
        try:
            window = int(raw.strip())
        except ValueError:
            return DEFAULT_DUPLICATE_WINDOW_S
        return min(max(window, 0), MAX_DUPLICATE_WINDOW_S)

    def _dup_key(self, req: TxnRequest, payment_secret: str, window: int) -> bytes:
        b = req.bill_to
        fields = (
            self.config.login_id, payment_secret, req.card.expiration if req.card else "",
            req.transaction_type, req.po_number or "", money(req.amount) if req.amount is not None else "",
            req.invoice_number or "", req.customer_id or "",
            b.get("firstName", ""), b.get("lastName", ""), b.get("company", ""), b.get("address", ""),
            b.get("city", ""), b.get("state", ""), b.get("zip", ""), b.get("country", ""), str(window),
            # Not in the documented field set: refunds also key on the refunded transaction, so
            # equal partial refunds of *different* charges are not duplicates (see README).
            req.ref_trans_id or "" if req.transaction_type == "refundTransaction" else "",
        )
        return hashlib.sha256("\x1f".join(fields).encode()).digest()

    def _find_duplicate(self, key: bytes, window: int, now: float) -> Txn | None:
        if window <= 0:
            return None
        tid = self._dups.get(key)
        t = self.txns.get(tid) if tid else None
        if t is not None and now - t.submit_ts < window:
            return t
        return None

    def _duplicate(self, req: TxnRequest, orig: Txn, account_number: str, account_type: str) -> Outcome:
        if "duplicateWindow" in req.settings:  # the original's data is returned ("Duplicate detection")
            return error_outcome(11, trans_id=orig.trans_id, auth_code=orig.auth_code if orig.response_code == 1 else "",
                          avs=orig.avs, cvv=orig.cvv, account_number=account_number, account_type=account_type)
        return error_outcome(11, account_number=account_number, account_type=account_type)

    def _store(self, req: TxnRequest, env: Envelope, **kw) -> Txn:
        t = Txn(
            trans_id=self._new_id(), submit_ts=self.clock.now(), invoice_number=req.invoice_number,
            description=req.description, po_number=req.po_number, ref_id=env.ref_id, client_id=env.client_id,
            customer_type=req.customer_type, customer_id=req.customer_id, customer_email=req.customer_email,
            customer_ip=req.customer_ip, bill_to=req.bill_to, ship_to=req.ship_to, **kw)
        self.txns[t.trans_id] = t
        return t

    def _authorize(self, req: TxnRequest, env: Envelope) -> Outcome:
        now = self.clock.now()
        opaque_decline = False
        if req.card is not None:
            number = req.card.number
            last4 = number[-4:]
            masked = "XXXX" + last4
            if not (13 <= len(number) <= 16 and cards.luhn_ok(number)):
                return error_outcome(6, account_number=masked if last4.isdigit() else "")
            acct_type = cards.brand(number)
            exp = cards.parse_expiration(req.card.expiration)
            if exp is None:
                return error_outcome(7, account_number=masked, account_type=acct_type or "")
            if cards.is_expired(exp[0], exp[1], dt.datetime.fromtimestamp(now, dt.timezone.utc)):
                return error_outcome(8, account_number=masked, account_type=acct_type or "")
            if acct_type is None:
                return error_outcome(17, account_number=masked)
            secret = number
            card_code = req.card.code
        elif req.opaque is not None:
            if not req.opaque.descriptor:
                return error_outcome(33, text="Data descriptor cannot be left blank.")
            if not req.opaque.value:
                return error_outcome(33, text="Data value cannot be left blank.")
            # Accept nonces stand for the sandbox Visa 4111 1111 1111 1111 (see README).
            last4, masked, acct_type, card_code = "1111", "XXXX1111", "Visa", None
            value = req.opaque.value.lower()
            if value.startswith("expired"):
                return error_outcome(8, account_number=masked, account_type=acct_type)
            opaque_decline = value.startswith("decline")
            secret = "opaque:" + req.opaque.value
        elif req.other_payment is not None:
            return error_outcome(17)
        else:
            return error_outcome(33, text="Credit card number cannot be left blank.")
        if not valid_amount(req.amount):
            return error_outcome(5, account_number=masked, account_type=acct_type)
        if req.transaction_type == "captureOnlyTransaction":
            if not req.auth_code:
                return error_outcome(12, account_number=masked, account_type=acct_type)
            if len(req.auth_code) > 6:
                return error_outcome(72, account_number=masked, account_type=acct_type)

        window = self._duplicate_window(req)
        key = self._dup_key(req, hashlib.sha256(secret.encode()).hexdigest(), window)
        orig = self._find_duplicate(key, window, now)
        if orig is not None:
            return self._duplicate(req, orig, masked, acct_type)

        zip_code = req.bill_to.get("zip", "")
        avs = cards.avs_for_zip(zip_code)
        cvv = cards.cvv_for_code(card_code)
        common = dict(type=req.transaction_type, amount=req.amount.quantize(CENT), avs=avs, cvv=cvv, cavv="2",
                      account_type=acct_type, card_last4=last4)
        reason = 0
        if opaque_decline or zip_code.strip()[:5] == cards.DECLINE_ZIP:
            reason = 2
        else:
            avs_bad = avs in self.config.avs_reject
            cvv_bad = cvv != "" and cvv in self.config.cvv_reject
            reason = 45 if avs_bad and cvv_bad else 27 if avs_bad else 65 if cvv_bad else 0
        if reason:
            t = self._store(req, env, status=DECLINED, response_code=2, reason_code=reason, **common)
            self._remember(key, t.trans_id)
            tr = TxnResponse(response_code="2", avs=avs, cvv=cvv, cavv="2", trans_id=t.trans_id,
                             account_number=masked, account_type=acct_type, errors=[(str(reason), TEXT[reason])])
            return ok_outcome(tr, stored=t)

        # A capture-only request's authCode was checked non-empty above.
        auth_code = (req.auth_code or "") if req.transaction_type == "captureOnlyTransaction" else self._code(6)
        status = AUTH_PENDING if req.transaction_type == "authOnlyTransaction" else CAPTURED
        t = self._store(req, env, status=status, response_code=1, reason_code=1, auth_code=auth_code,
                        settle_amount=common["amount"], network_trans_id=self._code(15, string.digits), **common)
        self._remember(key, t.trans_id)
        tr = TxnResponse(response_code="1", auth_code=auth_code, avs=avs, cvv=cvv, cavv="2", trans_id=t.trans_id,
                         account_number=masked, account_type=acct_type, messages=[("1", TEXT[1])],
                         network_trans_id=t.network_trans_id)
        return ok_outcome(tr, stored=t)

    def _referenced(self, req: TxnRequest) -> tuple[Txn | None, Outcome | None]:
        ref = req.ref_trans_id or ""
        if not ref.isdigit() or int(ref) == 0:
            return None, error_outcome(15, ref=ref)
        t = self.get(ref)
        if t is None:
            return None, error_outcome(16, ref=ref)
        return t, None

    def _same(self, t: Txn, reason: int, *, top_text: str | None = None) -> Outcome:
        """An approval-shaped answer about an existing transaction (capture, void, 310, 311)."""
        tr = TxnResponse(response_code="1", auth_code=t.auth_code, avs="P", trans_id=t.trans_id,
                         ref_trans_id=t.trans_id, account_number=t.account_number, account_type=t.account_type,
                         messages=[(str(reason), TEXT[reason])])
        return ok_outcome(tr, text=top_text or "Successful.", stored=t)

    def _capture(self, req: TxnRequest) -> Outcome:
        t, err = self._referenced(req)
        if err:
            return err
        assert t is not None  # _referenced gives the transaction or the error
        if t.type not in AUTH_TYPES:
            return error_outcome(16, ref=t.trans_id)
        if t.status in (CAPTURED, SETTLED):
            return self._same(t, 311, top_text=TEXT[311])
        if t.status != AUTH_PENDING:  # voided, declined, expired
            return error_outcome(16, ref=t.trans_id)
        amount = t.amount if req.amount is None else req.amount
        if not valid_amount(amount):
            return error_outcome(5, ref=t.trans_id, account_number=t.account_number, account_type=t.account_type)
        if amount > t.amount:
            return error_outcome(47, ref=t.trans_id, account_number=t.account_number, account_type=t.account_type)
        self._move(t, "capture")
        t.settle_amount = amount.quantize(CENT)
        return self._same(t, 1)

    def _void(self, req: TxnRequest) -> Outcome:
        t, err = self._referenced(req)
        if err:
            return err
        assert t is not None  # _referenced gives the transaction or the error
        if t.status == VOIDED:
            return self._same(t, 310, top_text=TEXT[310])
        if "void" not in TRANSITIONS[t.status]:  # settled, declined, expired
            return error_outcome(16, ref=t.trans_id)
        self._move(t, "void")
        if t.type == "refundTransaction" and t.ref_trans_id in self.txns:
            self.txns[t.ref_trans_id].refunded -= t.amount
        return self._same(t, 1)

    def _refund(self, req: TxnRequest, env: Envelope) -> Outcome:
        t, err = self._referenced(req)
        if err:
            return err
        assert t is not None  # _referenced gives the transaction or the error
        ref, acct = t.trans_id, dict(account_number=t.account_number, account_type=t.account_type)
        if req.card is None or not req.card.number:
            return error_outcome(33, text="Credit card number cannot be left blank.", ref=ref)
        number = req.card.number.upper()
        if number.startswith("XXXX"):
            number = number[4:]
        if not number.isdigit() or number[-4:] != t.card_last4 or (len(number) > 4 and not cards.luhn_ok(number)):
            return error_outcome(6, ref=ref)
        if req.card.expiration.upper() != "XXXX" and cards.parse_expiration(req.card.expiration) is None:
            return error_outcome(7, ref=ref, **acct)
        if not valid_amount(req.amount):
            return error_outcome(5, ref=ref, **acct)
        now = self.clock.now()
        settled_at = self.batch_time(t)
        if t.type not in AUTH_TYPES or t.status != SETTLED or settled_at is None \
                or now - settled_at > REFUND_AGE_LIMIT_S:
            return error_outcome(54, ref=ref, **acct)
        if req.amount + t.refunded > t.settle_amount:
            return error_outcome(55, ref=ref, **acct)
        window = self._duplicate_window(req)
        key = self._dup_key(req, "last4:" + t.card_last4, window)
        orig = self._find_duplicate(key, window, now)
        if orig is not None:
            return self._duplicate(req, orig, t.account_number, t.account_type)
        r = self._store(req, env, type="refundTransaction", amount=req.amount.quantize(CENT), status=REFUND_PENDING,
                        response_code=1, reason_code=1, avs="P", account_type=t.account_type,
                        card_last4=t.card_last4, ref_trans_id=ref, settle_amount=req.amount.quantize(CENT))
        self._remember(key, r.trans_id)
        t.refunded += r.amount
        tr = TxnResponse(response_code="1", avs="P", trans_id=r.trans_id, ref_trans_id=ref,
                         account_number=t.account_number, account_type=t.account_type,
                         messages=[("1", TEXT[1])])
        return ok_outcome(tr, stored=r)
