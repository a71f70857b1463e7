"""Rehabstöd: exports of the lists as the user sees them (PDF and Excel), PDL-logged as Utskrift."""
from __future__ import annotations
