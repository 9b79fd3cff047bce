"""All SQL of the hub: tables, migrations and repository functions (routes never touch a session)."""

from edgesight.hub.storage.db import Database

__all__ = ["Database"]
