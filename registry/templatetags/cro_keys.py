"""Keys as participants publish them: the `cs1.` form, whatever form was entered."""

from django import template

from registry.uftp import keys

register = template.Library()


@register.filter
def cs1(public_key: str) -> str:
    """`cs1.<base64>` of a stored base64 signing key; an empty or unreadable value as it is."""
    if not public_key:
        return public_key
    try:
        return keys.to_cs1(public_key)
    except keys.KeyFormatError:
        return public_key
