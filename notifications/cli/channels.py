"""`manage.py notify channels list|add|remove|test`: set up where notifications go, from the terminal."""

from __future__ import annotations

from datetime import time

from django.core.management.base import CommandError

from notifications import services
from notifications.models import Channel, ChannelKind, Event
from notifications.services.channels import mask_target
from queue_app.models import TaskSource

CHANNELS_HELP = "Notification channels: list, add, remove, test. `manage.py notify channels ACTION --help`."
ADD_HELP = (
    "Add a channel. Slack: --target the incoming-webhook URL. Telegram: --target the chat id, --secret the bot "
    "token. Email: --target the address(es). Webhook: --target the URL, --secret the signing key."
)


def _time(value: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise CommandError(f"'{value}' is not a time of day; write it as HH:MM, e.g. 22:00.") from None


def _channel(name: str) -> Channel:
    channel = Channel.objects.filter(name=name).first()
    if channel is None:
        known = ", ".join(Channel.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No channel named '{name}' (channels: {known}). `manage.py notify channels list`.")
    return channel


class ChannelVerbs:
    def add_verbs(self, verbs) -> None:
        self.channels_arguments(verbs.add_parser("channels", help=CHANNELS_HELP, description=CHANNELS_HELP))

    def channels_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("list", help="List channels (targets masked, secrets never shown).")
        add = actions.add_parser("add", help=ADD_HELP, description=ADD_HELP)
        add.add_argument("name")
        add.add_argument("--kind", required=True, choices=ChannelKind.values)
        add.add_argument("--target", required=True, help="URL, chat id or email address(es).")
        add.add_argument("--secret", default="", help="Telegram bot token or webhook signing secret.")
        add.add_argument(
            "--events",
            nargs="+",
            choices=[value for value in Event.values if value != Event.TEST],
            help="Events to receive (default: all but application_submitted).",
        )
        add.add_argument("--min-score", type=int, default=0, help="Job alerts below this score are not sent (0-100).")
        add.add_argument("--timezone", default="UTC", help="Time zone of the quiet hours, e.g. Europe/Paris.")
        add.add_argument("--quiet", metavar="HH:MM-HH:MM", help="Quiet hours, e.g. 22:00-07:00.")
        add.add_argument("--disabled", action="store_true", help="Create it switched off.")
        remove = actions.add_parser("remove", help="Delete a channel (its delivery log goes with it).")
        remove.add_argument("name")
        test = actions.add_parser("test", help="Queue a test message to a channel (a worker sends it).")
        test.add_argument("name")

    def handle_channels(self, command, options) -> None:
        getattr(self, f"_{options['action']}")(command, options)

    def _list(self, command, options) -> None:
        channels = Channel.objects.order_by("name")
        if not channels:
            command.stdout.write(
                "No channels. Add one with `manage.py notify channels add NAME --kind ... --target ...`."
            )
            return
        for channel in channels:
            quiet = (
                f" quiet {channel.quiet_start:%H:%M}-{channel.quiet_end:%H:%M} {channel.timezone}"
                if (channel.quiet_start)
                else ""
            )
            command.stdout.write(
                f"{channel.name}\t{channel.kind}\t{mask_target(channel)}\t{'on' if channel.enabled else 'off'}\t"
                f"min score {channel.min_score}\t{','.join(channel.events)}{quiet}"
            )

    def _add(self, command, options) -> None:
        quiet_start = quiet_end = None
        if options["quiet"]:
            start, _, end = options["quiet"].partition("-")
            quiet_start, quiet_end = _time(start), _time(end)
        channel = services.channel_create(
            name=options["name"],
            kind=options["kind"],
            target=options["target"],
            secret=options["secret"],
            events=options["events"],
            min_score=options["min_score"],
            enabled=not options["disabled"],
            timezone_name=options["timezone"],
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            source=TaskSource.CLI,
        )
        command.stdout.write(
            command.style.SUCCESS(f"Added channel '{channel.name}' ({channel.kind}, id {channel.pk}).")
        )

    def _remove(self, command, options) -> None:
        channel = _channel(options["name"])
        services.channel_delete(channel_id=channel.pk, source=TaskSource.CLI)
        command.stdout.write(command.style.SUCCESS(f"Removed channel '{channel.name}'."))

    def _test(self, command, options) -> None:
        channel = _channel(options["name"])
        delivery = services.channel_send_test(channel_id=channel.pk, source=TaskSource.CLI)
        command.stdout.write(
            command.style.SUCCESS(
                f"Queued test message (delivery {delivery.pk}) to '{channel.name}'; a worker of the notifications "
                "family sends it. Check `GET /api/notifications/deliveries/` or the admin's Deliveries."
            )
        )
