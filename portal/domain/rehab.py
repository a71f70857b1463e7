"""Rehabstöd's rules, one module per responsibility; this module gathers their public names for the
blueprints and the gateway (`from portal.domain import rehab`):

- `patient_access`: who may see which patient and certificate, and the one display-name rule;
- `ongoing`: the ongoing list's rows, filters, matching, sorting and columns;
- `questions`: FK's questions, and the unanswered ones per certificate (`question_counts`);
- `overview`: the unit overview's counts;
- `rehab_settings`: checking the settings form;
- `filter_params`: reading a list's filters from query parameters (shared by the lists).

No module imports another's private helpers.
"""
from __future__ import annotations

from .filter_params import FROM_AFTER_TO, MISSING, NOT_A_DATE, NOT_A_NUMBER, OUT_OF_RANGE, TOO_LONG, swedish_key
from .ongoing import (
                            AGE_RANGE,
                            COLUMN_KEYS,
                            DEFAULT_ORDER,
                            DEFAULT_SORT,
                            GENDERS,
                            LENGTH_BUCKETS,
                            LENGTH_IDS,
                            MAX_FREE_TEXT,
                            MODEL,
                            NOT_FILTERS,
                            ORDERS,
                            PARAMS,
                            SORT_KEYS,
                            CaseRow,
                            Filters,
                            LengthBucket,
                            apply_filters,
                            columns,
                            degree_steps,
                            length_bucket,
                            list_rows,
                            parse_filters,
                            sort_rows,
                            visible_rows,
)
from .overview import overview
from .patient_access import (
                            MASKED,
                            UNKNOWN_NAME,
                            PersonFacts,
                            Viewer,
                            display_name,
                            may_read_certificate,
                            may_see_patient,
)
from .questions import ADMINISTRATIVE_SUBJECTS, KOMPLETTERING_SUBJECTS, QUESTION_WINDOW_DAYS, REMINDER, question_counts
from .rehab_settings import SETTING_DEFAULTS, validate_settings

__all__ = [
    "ADMINISTRATIVE_SUBJECTS", "AGE_RANGE", "COLUMN_KEYS", "DEFAULT_ORDER", "DEFAULT_SORT", "FROM_AFTER_TO",
    "GENDERS", "KOMPLETTERING_SUBJECTS", "LENGTH_BUCKETS", "LENGTH_IDS", "MASKED", "MAX_FREE_TEXT", "MODEL", "MISSING",
    "NOT_A_DATE", "NOT_A_NUMBER", "NOT_FILTERS", "ORDERS", "OUT_OF_RANGE", "PARAMS", "QUESTION_WINDOW_DAYS",
    "REMINDER", "SETTING_DEFAULTS", "SORT_KEYS", "TOO_LONG", "UNKNOWN_NAME", "CaseRow", "Filters", "LengthBucket",
    "PersonFacts", "Viewer", "apply_filters", "columns", "degree_steps", "display_name", "length_bucket",
    "list_rows", "may_read_certificate", "may_see_patient", "overview", "parse_filters", "question_counts",
    "sort_rows", "swedish_key", "validate_settings", "visible_rows",
]
