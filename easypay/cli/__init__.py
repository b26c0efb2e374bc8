"""``easypay``: the one command line of the engine.

Every subcommand prints human text, or with ``--json`` a single JSON document on stdout. The
commands are grouped by subject: ``accounts`` (merchants, keys, users), ``card_keys`` (the card-data keyring), ``secret_key`` (root-key rotation), ``run`` (web, worker,
scheduler, sandbox), ``webhooks``, ``listen`` (local webhook forwarding, through the Python client), and ``ops`` (db, queues, payments, dlq); ``common`` holds what
they share.
"""

from __future__ import annotations

import click

from easypay.cli.accounts import keys, merchants, users
from easypay.cli.card_keys import card_keys
from easypay.cli.common import Commands
from easypay.cli.listen import listen
from easypay.cli.ops import db, dlq, payments, queues
from easypay.cli.run import sandbox, scheduler, web, worker
from easypay.cli.secret_key import secret_key
from easypay.cli.webhooks import webhooks


@click.group(cls=Commands)
def main() -> None:
    """EasyPay payment engine."""


for _command in (db, merchants, keys, users, card_keys, secret_key, web, worker, scheduler, sandbox, webhooks, listen, queues, payments, dlq):
    main.add_command(_command)
