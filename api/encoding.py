"""Stripe's bracket notation decoded into nested dicts and lists.

The SDK sends `metadata[plan]=gold`, `items[0][price]=price_1`, `expand[0]=x` (or `expand[]=x`):
`params(request)` gives `{"metadata": {"plan": "gold"}, "items": [{"price": "price_1"}], "expand": ["x"]}`,
from the form-encoded body of a POST and from the query string of a GET or DELETE. Values stay strings
(an empty string is kept: on update it unsets, as in Stripe). A dict whose keys are all integers becomes
a list in index order.
"""

import json
import re
from urllib.parse import parse_qsl

from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError

from api.errors import invalid

MAX_PARAMS = 1000
MAX_DEPTH = 6
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def params(request) -> dict:
    """The request's parameters, decoded once and kept on the request."""
    cached = getattr(request, "_stripe_params", None)
    if cached is not None:
        return cached
    if request.method == "POST":
        content_type = request.content_type or ""
        try:
            raw = b"" if content_type == "multipart/form-data" else request.body
        except SuspiciousOperation:  # RequestDataTooBig
            invalid("The request body is too large.")
        if content_type == "application/json":
            try:
                decoded = json.loads(raw or b"{}")
            except (ValueError, UnicodeDecodeError):
                invalid("The request body is not valid JSON.")
            if not isinstance(decoded, dict):
                invalid("The request body must be an object of parameters.")
            request._stripe_params = decoded
            return decoded
        if content_type == "multipart/form-data":
            # Not what the SDKs send, but what an HTML form does: its fields, decoded the same way.
            try:
                pairs = [(key, value) for key, values in request.POST.lists() for value in values]
            except (MultiPartParserError, SuspiciousOperation):
                invalid("The request body is not a readable form.")
            request._stripe_params = decode_pairs(pairs)
            return request._stripe_params
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            invalid("The request body is not valid UTF-8.")
        # Stripe's clients send the parameters of a POST in its body; some put them in the URL.
        query = request.META.get("QUERY_STRING", "")
        text = "&".join(part for part in (query, text) if part)
    else:
        text = request.META.get("QUERY_STRING", "")
    request._stripe_params = decode(text)
    return request._stripe_params


def decode(text: str) -> dict:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_PARAMS, errors="strict")
    except ValueError:
        invalid(f"Too many parameters, or parameters not encoded as UTF-8 (at most {MAX_PARAMS}).")
    return decode_pairs(pairs)


def decode_pairs(pairs: list[tuple[str, str]]) -> dict:
    if len(pairs) > MAX_PARAMS:
        invalid(f"Too many parameters (at most {MAX_PARAMS}).")
    root: dict = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            invalid("Parameters cannot contain NUL characters.", param=key.replace("\x00", ""))
        match = _KEY.match(key)
        if not match:
            invalid(f"Invalid parameter name: {key}.", param=key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        if len(path) > MAX_DEPTH:
            invalid(f"Parameter {key} is nested too deep.", param=key)
        _put(root, path, value, key)
    return _listify(root)


def _put(node: dict, path: list[str], value: str, key: str) -> None:
    for part in path[:-1]:
        if part == "":
            # `expand[]=a&expand[]=b`: each value takes the next index.
            part = str(_next_index(node))
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            invalid(f"Parameter {key} mixes a value and nested parameters.", param=key)
        node = child
    last = path[-1]
    if last == "":
        last = str(_next_index(node))
    if isinstance(node.get(last), dict):
        invalid(f"Parameter {key} mixes a value and nested parameters.", param=key)
    node[last] = value


def _next_index(node: dict) -> int:
    return sum(1 for k in node if k.isdigit())


def _listify(node):
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() and len(k) < 5 for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


# --- Reading one parameter (each refusal names its param) ---------------------------------------


def text(values: dict, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    """A text parameter (None when absent)."""
    value = values.get(name)
    if value is None:
        if required:
            invalid(f"Missing required param: {name}.", param=name)
        return None
    if not isinstance(value, str):
        invalid(f"Invalid {name}: expected a string.", param=name)
    if len(value) > max_length:
        invalid(f"Invalid {name}: at most {max_length} characters.", param=name)
    return value


def integer(values: dict, name: str, *, required: bool = False, minimum: int | None = None, maximum: int | None = None):
    """An integer parameter (None when absent or empty)."""
    raw = values.get(name)
    if raw in (None, ""):
        if required:
            invalid(f"Missing required param: {name}.", param=name)
        return None
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        invalid(f"Invalid integer: {name}.", param=name)
    try:
        value = int(str(raw).strip())
    except ValueError:
        invalid(f"Invalid integer: {str(raw)[:50]}", param=name)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        invalid(f"Invalid {name}: must be {bounds}.", param=name)
    return value


def boolean(values: dict, name: str) -> bool | None:
    """A boolean parameter (`true`/`false`, as the SDK sends them; None when absent)."""
    raw = values.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    invalid(f"Invalid boolean: {name} must be true or false.", param=name)


def metadata(values: dict, current: dict | None = None) -> dict | None:
    """`metadata` merged into `current` as Stripe does: a key with an empty value is removed, and
    `metadata=""` clears them all. None when the request does not mention metadata."""
    given = values.get("metadata")
    if given is None:
        return None
    if given == "":
        return {}
    if not isinstance(given, dict):
        invalid("Invalid metadata: expected key/value pairs (metadata[key]=value).", param="metadata")
    merged = dict(current or {})
    for key, value in given.items():
        if not isinstance(value, str):
            invalid(f"Invalid metadata[{key}]: expected a string.", param=f"metadata[{key}]")
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


ALWAYS_ALLOWED = ("expand",)


def known(values: dict, *names: str, within: str | None = None) -> None:
    """Refuse a parameter the endpoint does not take, as Stripe does ("Received unknown parameter");
    `within` names the hash the values are in (`known(settings, "x", within="invoice_settings")`)."""
    for name in values:
        if name not in names and (within or name not in ALWAYS_ALLOWED):
            param = f"{within}[{name}]" if within else name
            invalid(f"Received unknown parameter: {param}", param=param)
