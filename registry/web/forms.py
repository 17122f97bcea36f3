"""Forms of the web interface: input only; the writes are the services' (registry.services)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from registry.models import Message, Participant
from registry.selectors.market_days import market_today
from registry.selectors.messages import MessageFilter, message_types
from registry.selectors.participants import participants_of_role
from registry.selectors.registry_state import RegistryFilter
from registry.uftp import versions

MAX_CSV_BYTES = 50 * 1024 * 1024

DATE_WIDGET = forms.DateInput(attrs={"type": "date"})


def service_errors_to_form(form: forms.Form, error: ValidationError, *, field_map: dict[str, str]) -> None:
    """Put a service's ValidationError on the form: dict keys go to the mapped fields."""
    if hasattr(error, "error_dict"):
        for key, messages in error.message_dict.items():
            field = field_map.get(key, key)
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


# ------------------------------------------------------------------------------ participants


class ParticipantForm(forms.Form):
    domain = forms.CharField(max_length=253, help_text="Lower-case internet domain, e.g. dso1.example.com")
    role = forms.ChoiceField(choices=Participant.Role.choices)
    public_key = forms.CharField(
        max_length=200,
        label="Public key",
        help_text="Base64 of the 32-byte Ed25519 signing key, or its cs1. form",
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
    )
    public_key_previous = forms.CharField(
        max_length=200,
        required=False,
        label="Previous public key",
        help_text="Optional: the key being retired, still valid beside the current one (during a key rotation)",
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
    )
    endpoint_url = forms.CharField(
        max_length=500,
        label="Endpoint URL",
        help_text="Where the CRO POSTs its messages, e.g. https://dso1.example.com/shapeshifter/api/v3/message",
        widget=forms.URLInput(),
    )

    newest_version = forms.ChoiceField(
        choices=[(version, version) for version in versions.SUPPORTED_VERSIONS],
        initial=versions.DEFAULT_PARTICIPANT_VERSION,
        required=False,
        label="Newest version",
        help_text="The newest Shapeshifter version the participant speaks: the CRO's TestMessage uses it",
    )

    FIELD_MAP = {"public_keys": "public_key", "public_key": "public_key"}

    def __init__(self, *args, participant: Participant | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.participant = participant
        # One optional endpoint per major version the CRO speaks (a participant may run several).
        for major in versions.ENDPOINT_PATHS:
            self.fields[self.endpoint_field_name(major)] = forms.CharField(
                max_length=500,
                required=False,
                label=f"Endpoint URL for v{major}",
                help_text=f"Optional: where version {major}.x messages go; empty: the endpoint URL "
                f"with its path turned to /shapeshifter/api/v{major}/message",
                widget=forms.URLInput(),
            )
        if participant is not None:
            # (domain, role) is the participant's identity: messages and the registry refer to it.
            for name in ("domain", "role"):
                self.fields[name].disabled = True
                self.fields[
                    name
                ].help_text = "The participant's identity; register a new participant to change it"

    def clean_domain(self) -> str:
        return self.cleaned_data["domain"].strip().lower()

    @staticmethod
    def endpoint_field_name(major: int) -> str:
        return f"endpoint_url_v{major}"

    def endpoints(self) -> dict[str, str]:
        """The endpoints per major as the participant services take them ({"4": url})."""
        return {
            str(major): self.cleaned_data.get(self.endpoint_field_name(major), "").strip()
            for major in versions.ENDPOINT_PATHS
        }

    def public_keys(self) -> list[str]:
        return [
            key.strip()
            for key in (self.cleaned_data["public_key"], self.cleaned_data["public_key_previous"])
            if key
        ]


class KeyRotateForm(forms.Form):
    new_public_key = forms.CharField(
        max_length=200,
        label="New public key",
        help_text="Base64 or cs1. form. It becomes the current key; the one it replaces stays valid until the rotation is completed.",
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
    )

    FIELD_MAP = {"public_keys": "new_public_key", "public_key": "new_public_key"}


class TimeStampResetForm(forms.Form):
    entity_address = forms.CharField(
        max_length=255,
        label="Entity address",
        help_text="The congestion point (DSO) or connection (AGR) whose updates are refused as "
        '"Subordinate sequence number" because of a TimeStamp in the future.',
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
    )


# ------------------------------------------------------------------------------ filters


def _participant_choice(role: str, label: str) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Participant.objects.filter(role=role).order_by("domain"),
        required=False,
        empty_label=f"any {label}",
        label=label,
    )


class ParticipantFilterForm(forms.Form):
    q = forms.CharField(
        required=False, label="Search", widget=forms.TextInput(attrs={"placeholder": "domain or URL"})
    )
    role = forms.ChoiceField(required=False, choices=[("", "any role"), *Participant.Role.choices])
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *Participant.Status.choices])


class RegistryFilterForm(forms.Form):
    dso = _participant_choice(Participant.Role.DSO, "DSO")
    agr = _participant_choice(Participant.Role.AGR, "AGR")
    day = forms.DateField(required=False, label="Active on", widget=DATE_WIDGET)
    as_of = forms.DateTimeField(
        required=False,
        label="As known at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: now",
    )
    q = forms.CharField(
        required=False,
        label="Address",
        widget=forms.TextInput(
            attrs={
                "placeholder": "CP (part) or connection",
                "title": "Part of a congestion point's address, or a connection's whole address",
            }
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dso"].queryset = participants_of_role(role=Participant.Role.DSO)
        self.fields["agr"].queryset = participants_of_role(role=Participant.Role.AGR)
        # The picker has no zone of its own: it is read in the display zone, and says so.
        self.fields["as_of"].label = f"As known at ({settings.CRO_DISPLAY_TIME_ZONE})"

    def selection(self) -> RegistryFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return RegistryFilter(
            dso=data.get("dso"),
            agr=data.get("agr"),
            day=data.get("day"),
            as_of=data.get("as_of"),
            q=(data.get("q") or "").strip(),
        )


class AgrPortfolioForm(forms.Form):
    agr = forms.ModelChoiceField(
        queryset=Participant.objects.none(), label="AGR", empty_label="choose an AGR"
    )
    day = forms.DateField(label="On", widget=DATE_WIDGET)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agr"].queryset = participants_of_role(role=Participant.Role.AGR)


class DsoPortfolioForm(forms.Form):
    dso = forms.ModelChoiceField(queryset=Participant.objects.none(), label="DSO", empty_label="choose a DSO")
    day = forms.DateField(label="On", widget=DATE_WIDGET)
    as_of = forms.DateTimeField(
        required=False,
        label="As known at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: now",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dso"].queryset = participants_of_role(role=Participant.Role.DSO)


class EntityHistoryForm(forms.Form):
    address = forms.CharField(
        max_length=512,
        label="Entity address",
        widget=forms.TextInput(attrs={"placeholder": "ean.… or ea1.… (congestion point or connection)"}),
    )


class MessageFilterForm(forms.Form):
    direction = forms.ChoiceField(required=False, choices=[("", "in and out"), *Message.Direction.choices])
    message_type = forms.ChoiceField(required=False, label="Type")
    participant = forms.ModelChoiceField(
        queryset=Participant.objects.none(), required=False, empty_label="any participant"
    )
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *Message.Status.choices])
    result = forms.ChoiceField(
        required=False, choices=[("", "any result"), ("Accepted", "Accepted"), ("Rejected", "Rejected")]
    )
    day = forms.DateField(required=False, label="Date", widget=DATE_WIDGET)
    q = forms.CharField(
        required=False,
        label="ID",
        widget=forms.TextInput(attrs={"placeholder": "MessageID or ConversationID"}),
    )
    # The hour range of a dashboard chart bar (ISO 8601 date-times), kept while filtering further.
    after = forms.DateTimeField(required=False, widget=forms.HiddenInput)
    before = forms.DateTimeField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["message_type"].choices = [("", "any type")] + [(t, t) for t in message_types()]
        self.fields["participant"].queryset = Participant.objects.order_by("domain", "role")

    def selection(self) -> MessageFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return MessageFilter(
            direction=data.get("direction") or "",
            message_type=data.get("message_type") or "",
            participant=data.get("participant"),
            status=data.get("status") or "",
            result=data.get("result") or "",
            day=data.get("day"),
            q=(data.get("q") or "").strip(),
            created_after=data.get("after"),
            created_before=data.get("before"),
        )


# ------------------------------------------------------------------------------ CSV


class CsvUploadForm(forms.Form):
    dso = forms.ModelChoiceField(
        queryset=Participant.objects.none(), label="DSO", empty_label="choose the DSO"
    )
    file = forms.FileField(
        label="CSV file", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dso"].queryset = participants_of_role(role=Participant.Role.DSO)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise ValidationError(f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
        return upload


class CsvExportForm(forms.Form):
    dso = forms.ModelChoiceField(
        queryset=Participant.objects.none(), label="DSO", empty_label="every DSO", required=False
    )
    day = forms.DateField(
        required=False, label="Active on", widget=DATE_WIDGET, help_text="Empty: every current row"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dso"].queryset = participants_of_role(role=Participant.Role.DSO)


def today_initial() -> dict:
    return {"day": market_today()}
