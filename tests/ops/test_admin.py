"""django-q2's Schedule admin runs any dotted path on the worker: only superusers may use it."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_q.models import Schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule():
    return Schedule.objects.create(func="ops.tasks.heartbeat", schedule_type=Schedule.MINUTES, minutes=1)


@pytest.fixture
def staff_with_schedule_permissions(editor):
    editor.is_staff = True
    editor.save()
    editor.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q"))
    return editor


def test_a_staff_user_with_every_schedule_permission_is_refused_the_schedule_admin(
    client, staff_with_schedule_permissions, schedule
):
    client.force_login(staff_with_schedule_permissions)
    urls = [
        reverse("admin:django_q_schedule_changelist"),
        reverse("admin:django_q_schedule_add"),
        reverse("admin:django_q_schedule_change", args=[schedule.pk]),
        reverse("admin:django_q_schedule_delete", args=[schedule.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 403, url
    response = client.post(
        reverse("admin:django_q_schedule_add"), {"func": "os.system", "schedule_type": "O", "repeats": "-1"}
    )
    assert response.status_code == 403
    assert Schedule.objects.count() == 1
    assert "Scheduled task" not in client.get(reverse("admin:index")).text
    # The rest of django-q2's admin (task results) stays open to them.
    assert client.get(reverse("admin:django_q_failure_changelist")).status_code == 200


def test_a_superuser_manages_schedules(admin_client, schedule):
    assert admin_client.get(reverse("admin:django_q_schedule_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:django_q_schedule_change", args=[schedule.pk])).status_code == 200
