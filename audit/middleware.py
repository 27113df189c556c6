"""Every request of a signed-in person acts as that person (see audit.context)."""

from audit.context import USER, acting_as


class ActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        with acting_as(USER, str(user.pk), user.get_username()):
            return self.get_response(request)
