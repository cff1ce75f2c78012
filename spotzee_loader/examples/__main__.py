import pyarrow.parquet as pq

from . import EXAMPLE_ORDERS, example_orders

pq.write_table(example_orders(), EXAMPLE_ORDERS, row_group_size=250)
print(f"wrote {EXAMPLE_ORDERS}")
