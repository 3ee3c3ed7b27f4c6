"""A patient's complete record for a subject-access request: one zip file.

`record.json` is the `$everything` bundle with the SMS words included;
`photos/` holds the lesion photos it links to (those not erased by retention).
"""

import mimetypes
import tempfile
import zipfile

from .patient_data import PatientData
from .record import everything

README = """This archive holds everything the follow-up service keeps about one patient.

record.json  The record as a FHIR R4 Bundle (Patient, Condition, tumour markers,
             risk assessment, follow-up plan, appointments, open reviews,
             lesion reports, SMS with their words).
photos/      The lesion photos the record's Media entries refer to.
"""


def archive(data: PatientData, self_url: str):
    """The zip, in a temporary file (spooled to disk when large), positioned at its start."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("README.txt", README)
        zipped.writestr("record.json", everything(data, True, self_url).model_dump_json(indent=2))
        for report in data.reports:
            for photo in report.photos.all():
                if photo.erased_at is None and photo.image:
                    extension = mimetypes.guess_extension(photo.content_type) or ""
                    with photo.image.open("rb") as image:
                        zipped.writestr(f"photos/photo-{photo.pk}{extension}", image.read())
    spool.seek(0)
    return spool
