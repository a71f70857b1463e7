"""Stores: the only code that talks SQL. Each module serves one area and returns plain data or models."""
