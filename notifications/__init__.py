"""Notifications: tell the freelancer on Slack, Telegram, email or a signed webhook (docs/notifications.md)."""
