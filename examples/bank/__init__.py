"""Bank accounts: deposits, withdrawals, and transfers that move money atomically."""
