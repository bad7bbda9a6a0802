"""Alembic environment: always run on the connection the Store hands over (keyed SQLCipher)."""

from alembic import context

from app.core.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite needs batch mode for ALTER
)
with context.begin_transaction():
    context.run_migrations()
