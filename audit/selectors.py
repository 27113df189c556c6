"""Reading the audit log: the filtered list, and who appears in it."""

from datetime import date, datetime, time, timedelta

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from audit.models import ActorKind, AuditEntry

ACTOR_CHOICES_LIMIT = 500


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def entry_list(
    *, q: str = "", who: str = "", what: str = "", since: date | None = None, until: date | None = None
) -> QuerySet[AuditEntry]:
    """Newest first. `who` is "<actor kind>:<actor id>"; `what` an object type; the days are
    whole days in the site's time zone, `until` included."""
    entries = AuditEntry.objects.order_by("-created", "-id")
    if q:
        entries = entries.filter(
            Q(object_id__iexact=q) | Q(object_label__icontains=q) | Q(summary__icontains=q) | Q(action__iexact=q)
        )
    if who:
        kind, _, ident = who.partition(":")
        entries = entries.filter(actor_kind=kind, actor_id=ident)
    if what:
        entries = entries.filter(object_type=what)
    if since:
        entries = entries.filter(created__gte=_start_of(since))
    if until:
        entries = entries.filter(created__lt=_start_of(until + timedelta(days=1)))
    return entries


def actors() -> list[tuple[str, str]]:
    """Everyone in the log, as (filter value, label): people by username, keys by name."""
    rows = (
        AuditEntry.objects.values("actor_kind", "actor_id")
        .annotate(label=Max("actor_label"))
        .order_by("actor_kind", "label")[:ACTOR_CHOICES_LIMIT]
    )
    kinds = dict(ActorKind.choices)
    return [
        (
            f"{row['actor_kind']}:{row['actor_id']}",
            row["label"] if row["actor_kind"] == ActorKind.USER else f"{row['label']} ({kinds[row['actor_kind']]})",
        )
        for row in rows
    ]
