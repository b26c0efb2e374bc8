"""Webhook delivery: Standard Webhooks signing, retry schedule, SSRF guard, attempts in batches.

Pure pieces (``schedule``, ``signing``, ``addresses``) import only the stdlib and ``cryptography``
(signing secrets are sealed at rest by ``engine.sealing.SecretBox``); ``keyring`` keeps opened
signing keys; ``attempt`` speaks HTTP with one pooled aiohttp session; ``service`` prepares and
makes one attempt; ``recording`` records finished attempts (``engine.db.webhook_deliveries``,
``engine.db.webhook_batches``); ``runner`` keeps a process's attempts in flight, recording and
claiming in batches; ``dispatch`` claims due deliveries for a process that does not deliver and
hands them to a sender.
"""
