# Reads `load_orders` (an upstream output) and `min_amount` (a pipeline variable).
_valid = load_orders["amount"].notna() & (load_orders["status"] == "paid")
clean_orders = load_orders[_valid & (load_orders["amount"] >= min_amount)].reset_index(drop=True)
dropped = len(load_orders) - len(clean_orders)
print(f"kept {len(clean_orders)} paid orders, dropped {dropped}")


def test_amounts_are_positive():
    assert (clean_orders["amount"] > 0).all(), "an order has a non-positive amount"


def test_order_ids_are_unique():
    assert clean_orders["order_id"].is_unique
