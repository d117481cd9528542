"""Database plumbing shared by every domain package: types, base class, engines, migrations."""
