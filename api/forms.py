"""The Settings → API keys form. The name's rules live in api.keys (the command shares them)."""

from django import forms


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        required=False,  # api_key_create says what a name needs, for the page and the command alike
        help_text="What uses the key, for example “Signup flow” or “Back office export”.",
        widget=forms.TextInput(attrs={"maxlength": 200, "autocomplete": "off", "required": True}),
    )
    read_only = forms.BooleanField(
        label="Read-only (restricted)",
        required=False,
        help_text="A restricted key (rk_…) can read everything and change nothing; a secret key (sk_…) has full access.",
    )
