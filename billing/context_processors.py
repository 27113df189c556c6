from billing.permissions import is_editor


def roles(request) -> dict:
    user = getattr(request, "user", None)
    return {"is_editor": bool(user and user.is_authenticated and is_editor(user))}
