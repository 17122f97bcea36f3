"""Reads: every query the views, API and worker need, with a bounded number of SQL queries."""
