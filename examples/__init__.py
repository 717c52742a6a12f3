"""Example applications served by ``make run``."""
