"""The throwaway PostgreSQL cluster now lives in portal/pgcluster.py (`portal serve-production` uses it too);
kept here so `from tests.pgcluster import ...` goes on working."""
from portal.pgcluster import DURABLE, FAST, ThrowawayPostgres, free_port, pg_bin

__all__ = ["DURABLE", "FAST", "ThrowawayPostgres", "free_port", "pg_bin"]
