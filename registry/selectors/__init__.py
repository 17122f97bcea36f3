"""Reads, by domain, each with a bounded number of SQL queries: registry_state (the registry known at
T, active on D), portfolio_queries (the §5 answers, built on it), registry_history, participants,
messages, imports, dashboard, market_days."""
