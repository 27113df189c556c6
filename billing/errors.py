"""Domain errors raised by billing services; views and the admin turn them into messages."""


class BillingError(Exception):
    """A billing operation that cannot be done, with a message a person understands."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidTransition(BillingError):
    """The object's current state does not allow the requested change."""
