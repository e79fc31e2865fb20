"""Alembic's environment, building its own engine from $APP_DATABASE_URL, else from sqlalchemy.url."""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from shop_models import metadata

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = metadata


def run_migrations_online():
    url = os.environ.get("APP_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
