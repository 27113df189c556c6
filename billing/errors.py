"""Domain errors: the base every app's refusals share (here, in the lowest layer), and billing's own.
Views and the admin turn them into messages."""


class DomainError(Exception):
    """An operation that cannot be done, with a message a person understands."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BillingError(DomainError):
    """A billing operation that cannot be done."""


class InvalidTransition(BillingError):
    """The object's current state does not allow the requested change."""
