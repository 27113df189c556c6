"""The team page: who can log in, with their role."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from frame.permissions import EDITORS, VIEWERS

SUPERUSER, EDITOR, VIEWER, NO_ROLE = "Superuser", "Editor", "Viewer", "No role"


@dataclass(frozen=True)
class TeamMember:
    user: object
    role: str

    @property
    def can_edit(self) -> bool:
        return self.user.is_active and self.role in (SUPERUSER, EDITOR)


def member_role(user) -> str:
    """Superusers can do everything; otherwise the role is the group ("Editors" wins over "Viewers")."""
    if user.is_superuser:
        return SUPERUSER
    groups = {group.name for group in user.groups.all()}
    if EDITORS in groups:
        return EDITOR
    if VIEWERS in groups:
        return VIEWER
    return NO_ROLE


def team_overview(users) -> list[TeamMember]:
    """Each user of the (already sliced) page with their role; the groups come in one more query."""
    return [TeamMember(user, member_role(user)) for user in users]


def team_users() -> QuerySet:
    """Everyone who can log in or could (inactive users too), active ones first."""
    return get_user_model().objects.prefetch_related("groups").order_by("-is_active", "username")
