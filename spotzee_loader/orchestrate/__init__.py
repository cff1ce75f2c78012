"""Splitting a load into slices and running them from an orchestrator (the Airflow DAGs).

``plan`` and ``tasks`` are plain Python (unit-tested without Airflow); ``airflow_glue`` is the only
module that imports Airflow, and only the DAG files import it.
"""
