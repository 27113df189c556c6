from frame.permissions import has_role, is_editor


def roles(request) -> dict:
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {"is_editor": signed_in and is_editor(user), "has_role": signed_in and has_role(user)}
