"""Storage: typed SQLAlchemy 2 models and their queries, one module per table group."""
