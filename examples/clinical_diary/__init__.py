"""A clinical-trial diary: attributed symptom entries, corrected by new events, audited."""
