"""A patient's diary in a clinical trial: symptoms recorded, and corrected, never edited.

A stored entry is part of the trial's record. A mistake is fixed by an
``EntryCorrected`` event that names the entry, the new values and the reason; the
original entry stays in the stream, so the audit trail shows what was first written,
what it became, who changed it and why (21 CFR Part 11 asks exactly that, see
docs/compliance.md).
"""

from __future__ import annotations

from uuid import UUID

import attrs

import esframework as esf

__all__ = [
    "CorrectEntry",
    "CorrectionNeedsReason",
    "Diary",
    "DuplicateEntry",
    "EnrolPatient",
    "Entry",
    "EntryCorrected",
    "InvalidSeverity",
    "NothingToCorrect",
    "PatientEnrolled",
    "RecordSymptom",
    "SymptomRecorded",
    "UnknownEntry",
]

SEVERITIES = range(11)
"""Severity on a 0 (none) to 10 (worst imaginable) scale."""


class InvalidSeverity(esf.DomainError):
    """A severity outside the 0-10 scale."""


class DuplicateEntry(esf.DomainError):
    """An entry id used twice: an entry is recorded once, then only corrected."""


class UnknownEntry(esf.DomainError):
    """A correction names an entry this diary does not hold."""


class CorrectionNeedsReason(esf.DomainError):
    """Every correction must say why it was made."""


class NothingToCorrect(esf.DomainError):
    """A correction that would change nothing."""


@esf.event(name="diary.PatientEnrolled")
class PatientEnrolled:
    study: str
    participant_code: str


@esf.event(name="diary.SymptomRecorded")
class SymptomRecorded:
    entry_id: UUID
    symptom: str
    severity: int


@esf.event(name="diary.EntryCorrected")
class EntryCorrected:
    entry_id: UUID
    symptom: str
    severity: int
    reason: str


@esf.command(target="patient_id")
class EnrolPatient:
    patient_id: UUID
    study: str
    participant_code: str


@esf.command(target="patient_id")
class RecordSymptom:
    patient_id: UUID
    entry_id: UUID
    symptom: str
    severity: int


@esf.command(target="patient_id")
class CorrectEntry:
    patient_id: UUID
    entry_id: UUID
    symptom: str
    severity: int
    reason: str


@attrs.frozen
class Entry:
    """An entry as it reads now, and how many times it was corrected."""

    symptom: str
    severity: int
    corrections: int = 0


def _check_severity(severity: int) -> None:
    if severity not in SEVERITIES:
        raise InvalidSeverity(f"severity must be 0 to 10, got {severity}")


@esf.aggregate(name="diary.Diary")
class Diary(esf.Aggregate):
    study: str = ""
    participant_code: str = ""
    entries: dict[UUID, Entry] = attrs.field(factory=dict)

    @esf.handles(EnrolPatient, create=True)
    def enrol(self, cmd: EnrolPatient) -> None:
        self.record(PatientEnrolled(study=cmd.study, participant_code=cmd.participant_code))

    @esf.handles
    def record_symptom(self, cmd: RecordSymptom) -> None:
        _check_severity(cmd.severity)
        if cmd.entry_id in self.entries:
            raise DuplicateEntry(f"entry {cmd.entry_id} exists already: correct it instead")
        self.record(
            SymptomRecorded(entry_id=cmd.entry_id, symptom=cmd.symptom, severity=cmd.severity)
        )

    @esf.handles
    def correct(self, cmd: CorrectEntry) -> None:
        entry = self.entries.get(cmd.entry_id)
        if entry is None:
            raise UnknownEntry(f"this diary has no entry {cmd.entry_id}")
        if not cmd.reason.strip():
            raise CorrectionNeedsReason("say why the entry is corrected")
        _check_severity(cmd.severity)
        if (cmd.symptom, cmd.severity) == (entry.symptom, entry.severity):
            raise NothingToCorrect(f"entry {cmd.entry_id} already reads so")
        self.record(
            EntryCorrected(
                entry_id=cmd.entry_id,
                symptom=cmd.symptom,
                severity=cmd.severity,
                reason=cmd.reason.strip(),
            )
        )

    @esf.applies
    def _enrolled(self, e: PatientEnrolled) -> None:
        self.study = e.study
        self.participant_code = e.participant_code

    @esf.applies
    def _recorded(self, e: SymptomRecorded) -> None:
        self.entries[e.entry_id] = Entry(symptom=e.symptom, severity=e.severity)

    @esf.applies
    def _corrected(self, e: EntryCorrected) -> None:
        before = self.entries[e.entry_id]
        self.entries[e.entry_id] = Entry(e.symptom, e.severity, before.corrections + 1)
