"""The clinical diary example: corrections as new events, attribution, verify and seals."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.testing import given

from .app import make_app
from .domain import (
    CorrectEntry,
    CorrectionNeedsReason,
    Diary,
    DuplicateEntry,
    EnrolPatient,
    Entry,
    EntryCorrected,
    InvalidSeverity,
    NothingToCorrect,
    PatientEnrolled,
    RecordSymptom,
    SymptomRecorded,
    UnknownEntry,
)

ENROLLED = PatientEnrolled(study="TRIAL-7", participant_code="P-001")
ENTRY = uuid4()
HEADACHE = SymptomRecorded(entry_id=ENTRY, symptom="headache", severity=7)

# -- the rules -------------------------------------------------------------------------


def test_a_correction_is_a_new_event_with_its_reason() -> None:
    """Correcting an entry records EntryCorrected; the entry then reads corrected."""
    given(Diary, ENROLLED, HEADACHE).when(
        CorrectEntry(uuid4(), ENTRY, "headache", 4, reason=" typed 7 for 4 ")
    ).then(
        EntryCorrected(entry_id=ENTRY, symptom="headache", severity=4, reason="typed 7 for 4")
    ).then_state(lambda d: d.entries[ENTRY] == Entry("headache", 4, corrections=1))


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (RecordSymptom(uuid4(), uuid4(), "nausea", 11), InvalidSeverity),
        (RecordSymptom(uuid4(), ENTRY, "nausea", 2), DuplicateEntry),
        (CorrectEntry(uuid4(), uuid4(), "nausea", 2, reason="wrong entry"), UnknownEntry),
        (CorrectEntry(uuid4(), ENTRY, "headache", 4, reason="  "), CorrectionNeedsReason),
        (CorrectEntry(uuid4(), ENTRY, "headache", 7, reason="no change"), NothingToCorrect),
        (CorrectEntry(uuid4(), ENTRY, "headache", -1, reason="typo"), InvalidSeverity),
    ],
)
def test_rules_refuse_bad_entries_and_corrections(
    command: object, error: type[esf.DomainError]
) -> None:
    """Out-of-scale, duplicate, unknown, unexplained and empty changes are refused."""
    given(Diary, ENROLLED, HEADACHE).when(command).then_raises(error)


# -- through the application -----------------------------------------------------------


@pytest.fixture
def app() -> Iterator[esf.Application]:
    """The diary over its configured store (in memory unless DIARY_STORE_URL says else)."""
    with make_app() as application:
        yield application


@pytest.fixture
def patient(app: esf.Application) -> UUID:
    """An enrolled patient with one headache entry, recorded by nurse-12."""
    patient_id = uuid4()
    with esf.context(user_id="nurse-12", site="berlin"):
        app.handle(EnrolPatient(patient_id, "TRIAL-7", "P-001"))
        app.handle(RecordSymptom(patient_id, ENTRY, "headache", 7))
    return patient_id


def test_every_change_needs_a_user(app: esf.Application, patient: UUID) -> None:
    """Without a user_id nothing is stored: the diary is attributable or it is nothing."""
    with pytest.raises(esf.AttributionRequired):
        app.handle(RecordSymptom(patient, uuid4(), "nausea", 2))
    assert app.store.stream_version(patient) == 2


def test_correction_keeps_the_original_entry(app: esf.Application, patient: UUID) -> None:
    """After a correction the stream still holds the first entry, unchanged, and who did what."""
    with esf.context(user_id="investigator-3"):
        app.handle(CorrectEntry(patient, ENTRY, "headache", 4, reason="patient misread scale"))
    assert app.load(Diary, patient).entries[ENTRY] == Entry("headache", 4, corrections=1)
    _, recorded, corrected = app.store.read_stream(patient)
    assert recorded.event == HEADACHE
    assert (recorded.user_id, recorded.metadata["site"]) == ("nurse-12", "berlin")
    assert corrected.event.reason == "patient misread scale"
    assert corrected.user_id == "investigator-3"
    assert app.load(Diary, patient, at_version=2).entries[ENTRY].severity == 7


def test_verify_and_seal(app: esf.Application, patient: UUID) -> None:
    """The record verifies; a seal taken now still verifies after later, honest entries."""
    assert app.verify().ok
    key = b"kept-in-the-sponsor-vault"
    seal = app.seal(hmac_key=key)
    with esf.context(user_id="nurse-12"):
        app.handle(RecordSymptom(patient, uuid4(), "fatigue", 3))
    report = app.verify(against=esf.Seal.from_json(seal.to_json()), hmac_key=key)
    assert report.ok, report
    assert report.sealed


def test_a_seal_checked_with_the_wrong_key_fails(app: esf.Application, patient: UUID) -> None:
    """A seal does not verify under another key: it cannot be forged without the key."""
    seal = app.seal(hmac_key=b"the real key")
    report = app.verify(against=seal, hmac_key=b"a guess")
    assert not report.ok
    assert [p.kind for p in report.problems] == ["seal"]
