# R block: `clean_orders` (a Python DataFrame) arrives as an R data frame;
# `customer_scores` goes on to SQL and Python as a table.
.per_customer <- aggregate(amount ~ customer_id, data = clean_orders,
                          FUN = function(x) c(orders = length(x), spent = sum(x)))
customer_scores <- data.frame(
  customer_id = .per_customer$customer_id,
  orders = as.integer(.per_customer$amount[, "orders"]),
  spent = round(.per_customer$amount[, "spent"], 2)
)
customer_scores$score <- round(as.numeric(scale(customer_scores$spent)), 3)
message("scored ", nrow(customer_scores), " customers")
