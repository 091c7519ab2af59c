"""`manage.py notify <verb>`: notification channels (list, add, remove, test)."""

from __future__ import annotations

from upwork_automation.cli import VerbCommand


class Command(VerbCommand):
    help = "Notifications: `manage.py notify channels list|add|remove|test`. `manage.py notify channels --help`."
    verb_groups = ["notifications.cli.channels.ChannelVerbs"]
