"""Notifications of case events to the channels a bureau reads: WeCom and DingTalk group robots, SMS, webhooks.

The ``NotifyWorker`` (``worker``) reads the transactional outbox after each channel's own cursor,
routes every event by the city's ``notify:`` rules (``config``, ``routing``), words it in Chinese
(``message``), folds a flood into one digest (``pacing``) and sends it (``channels``). This
package module imports nothing, so ``tickets.config`` can load the notify section without a cycle.
"""
