"""Splitting a load into slices and running them from an orchestrator: plain Python the Airflow provider calls.

``plan``, ``nightly`` and ``tasks`` import nothing of Airflow (unit-tested without it); ``spotzee_loader.provider``
is the Airflow side. The provider imports these modules by name, inside its tasks, so that parsing a DAG file loads
nothing of the loader: the package itself exports nothing.
"""

__all__: list[str] = []
