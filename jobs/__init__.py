"""The queue contract shared by everything that sends work and the workers that do it.

Queue and actor names, message ages, the one retry policy (``jobs.names``), the asynchronous
sender (``jobs.sender``), the broker's queue statistics (``jobs.queues``,
``jobs.queue_metrics``) and its dead letters (``jobs.dead_letters``: list, replay, purge). No
actors and no business rules live here: ``workers/`` holds the actors, and ``api/``,
``schedules/`` and the CLI send through this package only.
"""
