"""Retail apps: checkout queues and shelf restocking.

* :mod:`.queue` — the queue app: live wait and counters to open, as ``queue_advice`` events.
* :mod:`.staffing` — its maths: Little's law, Erlang C, counters for a wait target, arrival rates.
* :mod:`.shelf` — the shelf app: occupancy, gaps and ``restock`` alerts per shelf.
* :mod:`.restock_trend` — its trend: depletion rate (Theil–Sen), time to empty, the restock alarm.
"""

__all__: list[str] = []
