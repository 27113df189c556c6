"""The Django admin for billing objects: a thin shell over `billing.services`.

Statuses, transition timestamps and counters are read-only here. Adding and editing call the
create/update services, and each transition is an admin action that calls its service once per
selected object. A service that refuses (a DomainError) becomes a message naming the object, or
the form shown again with the reason; never a server error.
"""

# Importing the modules registers their admins.
from billing.admin import catalog, clocks, customers, invoices, quotes, records, subscriptions  # noqa: F401
