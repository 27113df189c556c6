"""The endpoint form's URL help text says which addresses are accepted, as the settings decide."""

import pytest

from notifications.forms import EndpointForm


@pytest.mark.parametrize("debug", [True, False])
def test_the_url_help_text_says_local_addresses_listed_in_webhook_allowed_hosts_are_accepted(settings, debug):
    settings.DEBUG = debug
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    text = str(EndpointForm().fields["url"].help_text)
    assert "An https address on the public internet." in text
    assert "WEBHOOK_ALLOWED_HOSTS" in text and "DEBUG" in text
    assert "local addresses included, and over plain http too" in text
    assert "Now accepted: 127.0.0.1, localhost." in text


def test_without_allowed_hosts_the_help_text_lists_none(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    text = str(EndpointForm().fields["url"].help_text)
    assert "WEBHOOK_ALLOWED_HOSTS" in text
    assert "Now accepted" not in text and "None is listed now." in text
