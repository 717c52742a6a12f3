"""actorgrid's alembic migrations (async env.py and versions/), shipped inside the wheel."""
