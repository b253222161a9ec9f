"""The reporting events as read back from the store, for folds: the same classes, with their
patterns and lengths left unchecked.

Every stored event passed ``domain.events``' constraints when it was recorded, and the store
refuses updates, so checking them again costs without finding anything: decoding a stored
``Story.EventRecorded`` took 4.3 µs with them and 1.5 without (the bench's 100k store, 30,000
events, best of five). Each class here subclasses its strict twin and redeclares the
constrained fields as plain types, in the same places, so its instances are instances of the
strict class, encode to the same bytes, and fold the same. ``knewwhen verify`` still decodes
every stored event strictly (``service.audit.recompute``) and names one that fails.
"""

from __future__ import annotations

from domain.events import (
    ClaimRetracted,
    ClaimStance,
    CorrectionIssued,
    Document,
    DocumentReleased,
    DraftLeaked,
    ReportConfirmed,
    ReportingEvent,
    ResponseIssued,
    StoryPublished,
)
from domain.story import Story


class StoredDocument(Document, frozen=True, omit_defaults=True):
    """A stored event's document."""

    id: str
    title: str | None = None
    url: str | None = None
    author: str | None = None
    text: str | None = None
    version_label: str | None = None


class StoredClaimStance(ClaimStance, frozen=True, omit_defaults=True):
    """A stored event's stance on a claim."""

    id: str
    text: str | None = None
    occurred_at: str | None = None


class StoredFields(ReportingEvent, frozen=True, omit_defaults=True):
    """The fields of every stored reporting event, unchecked (a base, never decoded itself)."""

    id: str
    source: str
    document: StoredDocument | None = None
    claims: tuple[StoredClaimStance, ...] = ()
    cites: tuple[str, ...] = ()
    note: str | None = None


class StoredDraftLeaked(StoredFields, DraftLeaked, frozen=True, tag="draft_leaked"):
    """A stored ``DraftLeaked``."""


class StoredStoryPublished(StoredFields, StoryPublished, frozen=True, tag="story_published"):
    """A stored ``StoryPublished``."""


class StoredReportConfirmed(StoredFields, ReportConfirmed, frozen=True, tag="report_confirmed"):
    """A stored ``ReportConfirmed``."""


class StoredResponseIssued(StoredFields, ResponseIssued, frozen=True, tag="response_issued"):
    """A stored ``ResponseIssued``."""


class StoredDocumentReleased(StoredFields, DocumentReleased, frozen=True, tag="document_released"):
    """A stored ``DocumentReleased``."""


class StoredCorrectionIssued(StoredFields, CorrectionIssued, frozen=True, tag="correction_issued"):
    """A stored ``CorrectionIssued``."""


class StoredClaimRetracted(StoredFields, ClaimRetracted, frozen=True, tag="claim_retracted"):
    """A stored ``ClaimRetracted``."""


AnyStoredEvent = (
    StoredDraftLeaked
    | StoredStoryPublished
    | StoredReportConfirmed
    | StoredResponseIssued
    | StoredDocumentReleased
    | StoredCorrectionIssued
    | StoredClaimRetracted
)


class StoredRecord(Story.EventRecorded):
    """A stored ``Story.EventRecorded``, its event unchecked."""

    event: AnyStoredEvent
