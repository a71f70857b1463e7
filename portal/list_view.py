"""A list's model (``domain.list_model``) in the reader's language: the column headings, the field
errors, the error summary and the removable filter tags. The page, its htmx fragment and its exports all
take their words from here, so a list's texts are declared once, in its model."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from flask_babel import gettext

from . import export
from .domain import list_model as lm


def headings(model: lm.ListModel, keys: Sequence[str] | None = None) -> dict[str, str]:
    """The columns' headings by key (all of them, or the ones in ``keys``)."""
    wanted = keys if keys is not None else model.column_keys
    return {key: gettext(model.column(key).label) for key in wanted}


def export_columns(model: lm.ListModel, keys: Sequence[str]) -> list[export.Column]:
    """The exports' columns: the page's headings, each with its cell kind."""
    return [export.Column(key, gettext(model.column(key).label), model.column(key).cell) for key in keys]


def messages(model: lm.ListModel, errors: Sequence[tuple[str, str]]) -> dict[str, str]:
    """One message per field in error (the first error counts), saying how to fix it, in the order of
    the model's fields: the keys are the GET parameters, which are also the fields' ids."""
    first: dict[str, str] = {}
    for param, code in errors:
        first.setdefault(param, code)
    out: dict[str, str] = {}
    for f in model.fields:
        if f.param in first:
            out[f.param] = gettext(f.errors.get(first[f.param]) or f.error)
    return out


def error_summary(messages_by_field: Mapping[str, str]) -> list[dict[str, str]]:
    """The error summary's items (``components/macros.html`` error_summary), in the fields' order."""
    return [{"field": param, "message": text} for param, text in messages_by_field.items()]


def tag_text(field: lm.Field, value: str, labels: Mapping[str, str]) -> str:
    shown = labels.get(value)
    if shown is None:
        shown = gettext(field.labels[value]) if value in field.labels else value
    return gettext(field.tag, value=shown) if "%(value)s" in field.tag else gettext(field.tag)


def tags(filters: lm.ListFilters, href: str,
         value_labels: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """The chosen filters as removable tags (``components/macros.html`` filter_tags items): each the
    tag's words and a link to ``href`` with every other filter and the sort kept. ``value_labels``
    names the values a field's model does not (doctors, certificate types, units), by field name."""
    model = filters.MODEL
    value_labels = value_labels or {}
    out = []
    for param, value, rest in filters.tags():
        field = model.by_param(param)
        if field is None:
            continue
        out.append({"text": tag_text(field, value, value_labels.get(field.name, {})),
                    "href": href + ("?" + urlencode(rest) if rest else "")})
    return out


def value_labels(model: lm.ListModel, field_name: str) -> dict[str, str]:
    """A field's own value labels (the model's), translated: for the filter's checkboxes."""
    return {value: gettext(label) for value, label in model.field(field_name).labels.items()}
