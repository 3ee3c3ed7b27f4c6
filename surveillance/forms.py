"""The lesion report form: the SMS questionnaire's questions, on the web.

One form serves the patient's one-time link (`/r/<nonce>/`) and staff entry
(a phone call, a clinic visit). The questions and answer codes are
`triage.QUESTIONS`; only the words shown differ, in the patient's language.
The words are plain language and never name a diagnosis: the link may be
forwarded, the page read over a shoulder.

Every question may be left unanswered ("Not sure"): the report is then
incomplete, and still becomes a flag a clinician reviews.

Photos are checked before anything is saved: at most `MAX_PHOTOS`, each at
most `settings.LESION_PHOTO_MAX_BYTES`, each a real JPEG, PNG or WEBP image
(Pillow must open and verify it; the client's file name and content type are
not trusted). The content type stored is the one Pillow found, and the image
is stored re-encoded, without its metadata (phones record where it was taken).
"""

from __future__ import annotations

import io
import warnings

from django import forms
from django.conf import settings
from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps

from .triage import QUESTIONS
from .wording import ANSWER_LABELS, QUESTION_LABELS

MAX_PHOTOS = 3
NOTE_MAX_LENGTH = 2000

# Pillow's format name -> the content type stored and served.
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# The rest of the words on the patient's pages.
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Tell us about a change in your skin",
        "greeting": "Your care team at {site}",
        "intro": "Answer what you can. If you are not sure, leave “Not sure” selected: "
        "that is fine. A member of your care team looks at every answer.",
        "not_sure": "Not sure",
        "note": "Anything else you want to tell us?",
        "note_help": "Optional.",
        "photos": "Photos (optional)",
        "photos_help": "Up to {count} photos, JPEG, PNG or WEBP, {size} each at most.",
        "submit": "Send to my care team",
        "errors": "Please check the form: something could not be accepted.",
        "too_many_photos": "Please choose at most {count} photos.",
        "too_big": "“{name}” is too large ({size}). Each photo must be {max} or less.",
        "not_image": "“{name}” is not a photo we can open. Please send a JPEG, PNG or WEBP photo.",
        "thanks_title": "Thank you",
        "thanks": "Your care team has received your answers. Someone from the team will "
        "be in touch with you.",
        "thanks_urgent": "If you feel very unwell, call your care team or your local "
        "emergency number.",
        "gone_title": "This link can no longer be used",
        "gone_used": "This link has already been used to send answers. Each link works once.",
        "gone_expired": "This link has expired.",
        "gone_next": "If you noticed something new on your skin, reply 2 to your care "
        "team's last text message, or call them.",
        "not_found_title": "Link not found",
        "not_found": "We could not find this link. Please check that you copied all of it.",
    },
    "es": {
        "title": "Cuéntenos sobre un cambio en su piel",
        "greeting": "Su equipo de atención de {site}",
        "intro": "Responda lo que pueda. Si no está seguro/a, deje marcado “No lo sé”: no "
        "pasa nada. Una persona de su equipo de atención revisa todas las respuestas.",
        "not_sure": "No lo sé",
        "note": "¿Hay algo más que quiera contarnos?",
        "note_help": "Opcional.",
        "photos": "Fotos (opcional)",
        "photos_help": "Hasta {count} fotos, JPEG, PNG o WEBP, de {size} como máximo cada una.",
        "submit": "Enviar a mi equipo de atención",
        "errors": "Revise el formulario: algo no se pudo aceptar.",
        "too_many_photos": "Elija {count} fotos como máximo.",
        "too_big": "“{name}” es demasiado grande ({size}). Cada foto debe ocupar {max} o menos.",
        "not_image": "“{name}” no es una foto que podamos abrir. Envíe una foto JPEG, PNG o WEBP.",
        "thanks_title": "Gracias",
        "thanks": "Su equipo de atención recibió sus respuestas. Una persona del equipo se "
        "pondrá en contacto con usted.",
        "thanks_urgent": "Si se siente muy mal, llame a su equipo de atención o al número "
        "de emergencias de su zona.",
        "gone_title": "Este enlace ya no se puede usar",
        "gone_used": "Este enlace ya se usó para enviar respuestas. Cada enlace funciona una "
        "sola vez.",
        "gone_expired": "Este enlace ha caducado.",
        "gone_next": "Si notó algo nuevo en su piel, responda 2 al último mensaje de texto "
        "de su equipo de atención, o llámelos.",
        "not_found_title": "Enlace no encontrado",
        "not_found": "No encontramos este enlace. Compruebe que lo copió completo.",
    },
}

STAFF_SOURCES = {
    "phone": "Phone call",
    "clinic": "Clinic visit",
    "other": "Other",
}


def language_of(code: str | None) -> str:
    return code if code in TEXT else "en"


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Zero or more uploaded files: a list, checked one by one by the form."""

    widget = MultipleFileInput

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(PhotosField, self).clean(item, initial) for item in files if item]


class CheckedPhoto:
    """An upload that passed every check, with the content type Pillow found."""

    def __init__(self, upload, content_type: str):
        self.upload = upload
        self.content_type = content_type
        self.size = upload.size


def check_photo(upload, text: dict[str, str]) -> CheckedPhoto:
    """The photo, checked: size first (cheap), then Pillow must open and verify it."""
    limit = settings.LESION_PHOTO_MAX_BYTES
    name = (upload.name or "photo")[-80:]
    if upload.size is None or upload.size > limit:
        raise forms.ValidationError(
            text["too_big"].format(
                name=name, size=filesizeformat(upload.size or 0), max=filesizeformat(limit)
            ),
            code="too_big",
        )
    not_image = forms.ValidationError(text["not_image"].format(name=name), code="not_image")
    try:
        upload.seek(0)
        with warnings.catch_warnings():
            # A decompression bomb is refused, not merely warned about.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                image_format = image.format
                image.verify()
    except Exception as error:  # Pillow raises many kinds for a bad file
        raise not_image from error
    finally:
        upload.seek(0)
    if image_format not in IMAGE_TYPES:
        raise not_image
    return CheckedPhoto(without_metadata(upload, image_format), IMAGE_TYPES[image_format])


def without_metadata(upload, image_format: str) -> ContentFile:
    """The image re-encoded without EXIF and other metadata.

    Phone photos carry where and when they were taken (GPS): nothing the care
    team needs, and not ours to keep. The picture is turned upright first,
    since its orientation lived in the metadata being dropped.
    """
    upload.seek(0)
    with Image.open(upload) as image:
        upright = ImageOps.exif_transpose(image)
        buffer = io.BytesIO()
        upright.save(buffer, format=image_format, quality=90)
    return ContentFile(buffer.getvalue(), name="photo")


class LesionReportForm(forms.Form):
    """The questions (each may be left "Not sure"), anything else, and photos."""

    def __init__(self, *args, language: str = "en", **kwargs):
        super().__init__(*args, **kwargs)
        self.language = language_of(language)
        self.text = TEXT[self.language]
        questions, answers = QUESTION_LABELS[self.language], ANSWER_LABELS[self.language]
        for question, codes in QUESTIONS.items():
            self.fields[question] = forms.ChoiceField(
                label=questions[question],
                choices=[(code, answers[question][code]) for code in codes]
                + [("", self.text["not_sure"])],
                required=False,
                initial="",
                widget=forms.RadioSelect,
            )
        self.fields["note"] = forms.CharField(
            label=self.text["note"],
            help_text=self.text["note_help"],
            required=False,
            max_length=NOTE_MAX_LENGTH,
            widget=forms.Textarea(attrs={"rows": 4}),
        )
        self.fields["photos"] = PhotosField(
            label=self.text["photos"],
            help_text=self.text["photos_help"].format(
                count=MAX_PHOTOS, size=filesizeformat(settings.LESION_PHOTO_MAX_BYTES)
            ),
            widget=MultipleFileInput(attrs={"accept": ",".join(IMAGE_TYPES.values())}),
        )

    @property
    def question_fields(self):
        return [self[question] for question in QUESTIONS]

    def clean_photos(self):
        photos = self.cleaned_data.get("photos") or []
        if len(photos) > MAX_PHOTOS:
            raise forms.ValidationError(
                self.text["too_many_photos"].format(count=MAX_PHOTOS), code="too_many"
            )
        checked, errors = [], []
        for upload in photos:
            try:
                checked.append(check_photo(upload, self.text))
            except forms.ValidationError as error:
                errors.append(error)
        if errors:
            raise forms.ValidationError(errors)
        return checked

    def answers(self) -> dict[str, str]:
        """The answered questions only: "Not sure" is no answer."""
        return {
            question: self.cleaned_data[question]
            for question in QUESTIONS
            if self.cleaned_data.get(question)
        }

    def complete(self) -> bool:
        return len(self.answers()) == len(QUESTIONS)

    def note(self) -> str:
        return self.cleaned_data.get("note", "").strip()


class StaffLesionReportForm(LesionReportForm):
    """Staff entry: the same questions, how the report came in, and a staff note."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"] = forms.ChoiceField(
            label="How was it reported?",
            choices=list(STAFF_SOURCES.items()),
            initial="phone",
            widget=forms.RadioSelect,
        )
        self.fields["note"].label = "Note"
        self.fields["note"].help_text = "What the patient said, what you saw; optional."

    def note(self) -> str:
        source = STAFF_SOURCES[self.cleaned_data["source"]]
        note = super().note()
        return f"{source}. {note}" if note else f"{source}."
