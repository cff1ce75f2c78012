"""spotzee_migration: a manually triggered, sliced migration of history into Spotzee (an Airflow DAG).

    airflow dags trigger spotzee_migration --conf '{"path": "/data/orders.parquet", "mapping": "orders"}'

plan -> load (SpotzeeLoadOperator, one mapped task per slice, pool ``spotzee_api``) -> summarize; defined in
``spotzee_loader.provider.migration_dag``, where ``migration_dag()`` makes more like it (README "Airflow").
"""

from spotzee_loader.provider.migration_dag import migration_dag

spotzee_migration = migration_dag()
