"""The Argos Identity API as batch-uploader relies on it: the vendor's contract in one place.

`docs/argos-api.md` says the same in prose. The client and the mock server both take their
names, codes and limits from here, so a wrong constant cannot be mirrored by the test double.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_BASE_URL = "https://rest-api.argosidentity.com"
ENDPOINT = "/v3/submission/image"
API_KEY_HEADER = "x-api-key"
# Not the vendor's: the variable in which both the client and the mock server find the key.
API_KEY_ENV = "ARGOS_API_KEY"

# Form fields, in the order they are sent.
SUBMISSION_ID = "submissionId"
ADMIN = "admin"
ID_TYPE = "idType"
IMAGE_FIELDS = ("idImage", "idBackImage", "selfieImage", "addressImage")
ID_DOCUMENT_FIELDS = frozenset({"idImage", "idBackImage"})
FIELD_ORDER = (SUBMISSION_ID, ADMIN, ID_TYPE, *IMAGE_FIELDS)

# Manifests may use the API's camelCase names or these snake_case forms.
FIELD_ALIASES: Mapping[str, str] = {
    "submission_id": SUBMISSION_ID,
    "id_type": ID_TYPE,
    "id_image": "idImage",
    "id_back_image": "idBackImage",
    "selfie_image": "selfieImage",
    "address_image": "addressImage",
}

# The vendor's guide lists these; its newer pages do not, so others only earn a warning.
DOCUMENTED_ID_TYPES = frozenset(
    {
        "drivers_license",
        "government_id",
        "passport",
        "residence_permit",
        "vehicle_registration_certificate",
        "visa",
        "aadhaar",
        "pancard",
    }
)

# The only image formats the API takes: names, and the magic numbers their bytes start with.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# API Gateway's payload limit: 10 MB, decimal. A larger request only earns a 413.
GATEWAY_LIMIT_BYTES = 10_000_000

ACCEPTED_MESSAGE = "complete to update image."


@dataclass(frozen=True, slots=True)
class DocumentedError:
    """An errorCode the vendor documents, with its message and whether a retry can help."""

    code: str
    message: str
    retryable: bool = False


INVALID_PAYLOAD = DocumentedError("invalid_payload", "Fail to parse the input data.")
MISSING_DATA = DocumentedError("missing_data", "Required input data is missing.")
INVALID_PROJECT = DocumentedError("invalid_project", "Invalid project.")
INVALID_ADMIN = DocumentedError("invalid_admin", "Invalid admin.")
INVALID_SUBMISSION = DocumentedError("invalid_submission", "Invalid submission.")
INVALID_DATA = DocumentedError("invalid_data", "At least one image parameter is required.")
MISSING_ID_TYPE = DocumentedError(
    "missing_data", "The idType is required when submit idImage or idBackImage."
)
INVALID_ID_TYPE = DocumentedError("invalid_idType", "Invalid IdType.")
PROCESSING_ERROR = DocumentedError("processing_error", "Failed to put image.", retryable=True)

DOCUMENTED_ERRORS = (
    INVALID_PAYLOAD,
    MISSING_DATA,
    INVALID_PROJECT,
    INVALID_ADMIN,
    INVALID_SUBMISSION,
    INVALID_DATA,
    MISSING_ID_TYPE,
    INVALID_ID_TYPE,
    PROCESSING_ERROR,
)
RETRYABLE_ERROR_CODES = frozenset(error.code for error in DOCUMENTED_ERRORS if error.retryable)
FINAL_ERROR_CODES = frozenset(error.code for error in DOCUMENTED_ERRORS if not error.retryable)

# The gateway's own answers carry a message and no errorCode.
GATEWAY_FORBIDDEN = "Forbidden"
GATEWAY_IP_DENIED = "User is not authorized to access this resource with an explicit deny"
GATEWAY_TOO_LARGE = "Request Entity Too Large"
GATEWAY_THROTTLED = "Too Many Requests"
GATEWAY_QUOTA_SPENT = "Limit Exceeded"
GATEWAY_TIMED_OUT = "Endpoint request timed out"
# Statuses worth another attempt when no errorCode says otherwise.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# After these answers no row of the run can succeed: a wrong key, an IP not on the
# allow-list, or a project that is missing or inactive.
CREDENTIALS_REFUSED_STATUS = 403
CREDENTIALS_REFUSED_ERROR_CODES = frozenset({INVALID_PROJECT.code})


def refuses_every_row(http_status: int | None, error_code: str) -> bool:
    """Whether this answer means that no row of the run can succeed."""
    return (
        http_status == CREDENTIALS_REFUSED_STATUS or error_code in CREDENTIALS_REFUSED_ERROR_CODES
    )


def canonical_field(name: str) -> str | None:
    """The API's name for a manifest column or key, or None when it is not one we know."""
    if name in FIELD_ORDER:
        return name
    return FIELD_ALIASES.get(name)


def undocumented_id_type(values: Mapping[str, str]) -> str | None:
    """The row's idType when it is set and outside the documented list: worth a warning."""
    id_type = values.get(ID_TYPE)
    return id_type if id_type and id_type not in DOCUMENTED_ID_TYPES else None
