"""Notifications: what OneMap knows, told to people through webhooks, robots and SMS.

One job a module: ``model`` (subscriptions, alerts and delivery jobs), ``store`` (every Redis
key and script of the notifier), ``watch`` (follows the log and turns it into alerts),
``channels`` (what each channel sends, signed and masked), ``deliver`` (worker threads: tries,
backoff, dead-letter, quiet hours, escalation), ``ack`` (signed links and the desk's endpoint),
``runner`` (the `onemap notify run` process) and ``commands`` (the `onemap notify` CLI).
docs/notifications.md is the human version.
"""
