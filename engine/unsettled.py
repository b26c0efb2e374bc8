"""One download of the processor's unsettled-transactions list per reconciliation run.

The reconciler finds a charge or refund whose answer was lost by its ``invoiceNumber`` in
``getUnsettledTransactionList``. The list is the same for every payment a run looks at, so a run
downloads it once — every page, 1,000 transactions each, until a short page — on its first
lookup, indexes it by invoice number, and answers every later lookup of the run from memory.
A run that needs no invoice lookup downloads nothing. Only transaction ids and invoice numbers
are used from the list (amounts come from ``getTransactionDetails`` with the payment's currency).

If a page cannot be read the run treats every invoice as not found, as a failed lookup always
did: the reconciler then resends inside the duplicate window (a resend of a charge that did land
is refused as a duplicate naming it) or looks again later.
"""

from __future__ import annotations

import logging

from engine.processor import ProcessorClient, TransactionSummary

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
#: A bound on a misbehaving processor, far above any real backlog (a million transactions).
MAX_PAGES = 1000


class UnsettledIndex:
    """The unsettled list of one run, downloaded on first use."""

    def __init__(self, client: ProcessorClient) -> None:
        self._client = client
        self._by_invoice: dict[str, TransactionSummary] | None = None
        #: Pages downloaded (for logs and tests).
        self.pages = 0

    async def find(self, invoice_number: str) -> TransactionSummary | None:
        if self._by_invoice is None:
            self._by_invoice = await self._download()
        return self._by_invoice.get(invoice_number)

    async def _download(self) -> dict[str, TransactionSummary]:
        by_invoice: dict[str, TransactionSummary] = {}
        for page in range(1, MAX_PAGES + 1):
            listed = await self._client.list_unsettled(limit=PAGE_SIZE, offset=page)
            self.pages += 1
            if not isinstance(listed, list):
                log.warning("unsettled list page %d could not be read; this run finds no invoice numbers", page)
                return {}
            for summary in listed:  # newest first: the first entry of an invoice number wins
                if summary.invoice_number and summary.invoice_number not in by_invoice:
                    by_invoice[summary.invoice_number] = summary
            if len(listed) < PAGE_SIZE:
                return by_invoice
        log.warning("unsettled list longer than %d pages; searched the newest %d", MAX_PAGES, MAX_PAGES * PAGE_SIZE)
        return by_invoice
