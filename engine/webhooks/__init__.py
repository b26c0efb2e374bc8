"""Webhook delivery: Standard Webhooks signing, retry schedule, SSRF guard, one attempt at a time.

Pure pieces (``schedule``, ``signing``, ``secretbox``, ``addresses``) import only the stdlib and
``cryptography``; ``attempt`` speaks HTTP with httpx; ``service`` ties them to the database
(``engine.db.webhooks``); ``dispatch`` claims due deliveries and hands them to a sender.
"""
