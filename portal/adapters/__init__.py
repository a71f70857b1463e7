"""Adapters: the only code that talks to the outside world (clock, person service, HSA, ...)."""
