"""Splitting a load into slices and running them from an orchestrator: what the Airflow DAGs call.

``plan``, ``nightly`` and ``tasks`` are plain Python (unit-tested without Airflow); ``airflow_glue`` is the
only module that imports Airflow, and only the DAG files import it. The DAGs import these four modules by name,
inside their tasks, so that parsing a DAG file loads nothing of the loader: the package itself exports nothing.
"""

__all__: list[str] = []
