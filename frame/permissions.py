"""The two roles: editors change things, viewers look; anyone else signed in sees nothing. Roles are Django groups."""

from functools import wraps

from django.core.exceptions import PermissionDenied

EDITORS = "Editors"
VIEWERS = "Viewers"


def _roles(user) -> frozenset[str]:
    """The user's role groups, read once per request (one query answers both role questions)."""
    cache = getattr(user, "_relance_roles", None)
    if cache is None:
        cache = frozenset(user.groups.filter(name__in=[EDITORS, VIEWERS]).values_list("name", flat=True))
        user._relance_roles = cache
    return cache


def is_editor(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or EDITORS in _roles(user)


def has_role(user) -> bool:
    """Editors, viewers and superusers read the dashboard; a signed-in user in neither group does not."""
    return is_editor(user) or (user.is_authenticated and user.is_active and VIEWERS in _roles(user))


def editor_required(view):
    """Refuse (403) anyone but an editor; viewers may look but never change."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_editor(request.user):
            raise PermissionDenied("Only editors can make changes.")
        return view(request, *args, **kwargs)

    return wrapped
