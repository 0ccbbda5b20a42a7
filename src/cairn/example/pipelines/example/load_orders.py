# Function style: the output is what the function returns, named after the block.
import pandas as pd

from cairn import block


@block
def load_orders(context):
    orders = pd.read_csv("data/orders.csv", parse_dates=["order_date"])
    context.logger.info("read %d orders", len(orders))
    return orders
