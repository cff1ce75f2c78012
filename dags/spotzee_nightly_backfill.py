"""spotzee_nightly_backfill: every night, load the orders and actions of the run's data interval (an Airflow DAG).

Defined in ``spotzee_loader.provider.nightly_dag``; what it loads comes from the Airflow Variable ``spotzee_nightly``,
by default the reference queries in ``sql/`` beside this folder (in an installed package: ``spotzee_loader/sql``).
"""

from pathlib import Path

from spotzee_loader.provider.nightly_dag import nightly_dag

spotzee_nightly_backfill = nightly_dag(Path(__file__).resolve().parent.parent / "sql")
