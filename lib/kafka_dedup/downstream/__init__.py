"""A reference downstream service: applies order.paid events as charges in a SQL database."""
