"""The two roles: editors change things, viewers look; anyone else signed in sees nothing. Roles are Django groups."""

from functools import wraps

from django.core.exceptions import PermissionDenied

EDITORS = "Editors"
VIEWERS = "Viewers"


def is_editor(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cache = getattr(user, "_relance_is_editor", None)
    if cache is None:
        cache = user.groups.filter(name=EDITORS).exists()
        user._relance_is_editor = cache
    return cache


def has_role(user) -> bool:
    """Editors, viewers and superusers read the dashboard; a signed-in user in neither group does not."""
    if is_editor(user):
        return True
    cache = getattr(user, "_relance_is_viewer", None)
    if cache is None:
        cache = user.groups.filter(name=VIEWERS).exists()
        user._relance_is_viewer = cache
    return cache


def editor_required(view):
    """Refuse (403) anyone but an editor; viewers may look but never change."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_editor(request.user):
            raise PermissionDenied("Only editors can make changes.")
        return view(request, *args, **kwargs)

    return wrapped
