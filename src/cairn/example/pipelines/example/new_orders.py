# Incremental: only the paid orders no earlier successful run has seen. The watermark keeps
# the latest order_date processed and the order ids taken at that date, so an order that
# arrives later with the same date is taken once. `cairn checkpoints example` shows it;
# `cairn checkpoints reset example new_orders` makes the next run take every order again.
from cairn.incremental.watermark import Watermark

_orders = Watermark(context, "orders", column="order_date", key="order_id")
new_orders = _orders.filter(clean_orders)
print(f"{len(new_orders)} new orders since {_orders.at or 'the first run'}")
_orders.advance(new_orders)
