"""Alembic's environment, sharing a connection when one is handed over (the cookbook's recipe)."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

from shop_models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = metadata


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = config.attributes.get("connection", None)
    if connectable is None:
        engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                    poolclass=pool.NullPool)
        with engine.connect() as connection:
            do_run_migrations(connection)
    else:
        do_run_migrations(connectable)


run_migrations_online()
