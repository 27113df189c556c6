"""The team's users and their role (billing/permissions.py: the "Editors" and "Viewers" groups)."""

from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

import audit
from frame.permissions import EDITORS, VIEWERS

ROLES = {"editor": EDITORS, "viewer": VIEWERS}


class UserError(Exception):
    """What is wrong with the request, in words for the operator."""


class PasswordNeeded(UserError):
    pass


@dataclass
class RoleChange:
    user: User
    created: bool
    before: str | None  # the role the user had, if any


def role_of(user: User) -> str | None:
    groups = set(user.groups.values_list("name", flat=True))
    return next((role for role, group in ROLES.items() if group in groups), None)


def access_of(user: User) -> dict:
    """What the user may do, as the audit log shows it before and after a change."""
    return {"role": role_of(user) or "none", **audit.fields(user, "is_superuser", "is_staff", "is_active")}


def record_access_change(user: User, before: dict | None) -> None:
    """Audit log: the user's access as it was (`before`; None for a new user) and as it is now."""
    after = access_of(user)
    if before != after:
        action = "user.created" if before is None else "user.role_changed"
        audit.record(action, user, label=user.get_username(), before=before, after=after)


@transaction.atomic
def user_set_role(
    *, username: str, role: str, email: str | None = None, password: str | None = None, create: bool = True
) -> RoleChange:
    """Give `username` the role (and take the other role away), creating the user if missing and
    `create`; a new user needs a password. Changes `email` and `password` when given. Idempotent."""
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r}: choose {' or '.join(ROLES)}.")
    if email:
        try:
            validate_email(email)
        except ValidationError as error:
            raise UserError(f"Not an email address: {email!r}.") from error
    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        if not create:
            raise UserError(f"No user named {username!r}.")
        if password is None:
            raise PasswordNeeded(f"The new user {username!r} needs a password.")
        user = User(username=username, email=email or "")
        user.full_clean(exclude=["password"])
    if password is not None:
        validate_password(password, user)  # raises ValidationError with Django's reasons
        user.set_password(password)
    if email:
        user.email = email
    access = None if created else access_of(user)
    user.save()
    before = None if created else role_of(user)
    user.groups.remove(*Group.objects.filter(name__in=[g for r, g in ROLES.items() if r != role]))
    user.groups.add(Group.objects.get_or_create(name=ROLES[role])[0])
    record_access_change(user, access)
    return RoleChange(user, created, before)
