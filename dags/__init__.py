"""The shipped DAGs, for a dags_folder of one's own: one file holding ``from spotzee_loader.dags import *``."""

from .spotzee_migration import spotzee_migration
from .spotzee_nightly_backfill import spotzee_nightly_backfill

__all__ = ["spotzee_migration", "spotzee_nightly_backfill"]
