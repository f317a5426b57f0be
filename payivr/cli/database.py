"""``payivr migrate`` and ``payivr crm``: the database's schema and the CRM outbox."""

from __future__ import annotations

import argparse
import uuid

from payivr.cli import database_urls, fail, open_database
from payivr.config import Config, ConfigError
from payivr.store import crm_list, crm_replay
from payivr.store import migrate as apply_migrations
from payivr.store.roles import role_of


async def migrate(config: Config) -> int:
    try:
        config.validate(("database",))
    except ConfigError as error:
        return fail(error)
    url, owner_url = await database_urls(config)
    if owner_url is None:
        return fail(
            "payivr migrate runs as the database's owner: set database.migrate_url"
            " (PAYIVR_DATABASE_MIGRATE_URL); database.url is the role payivr serves as"
        )
    applied = await apply_migrations(owner_url, await role_of(url))
    for migration in applied:
        print(f"applied {migration.version:04d} {migration.name}")
    print("database is up to date" if not applied else f"{len(applied)} migration(s) applied")
    return 0


async def crm(args: argparse.Namespace, config: Config) -> int:
    try:
        config.validate(("database",))
        ids = [uuid.UUID(value) for value in getattr(args, "ids", [])]
    except (ConfigError, ValueError) as error:
        return fail(error)
    db = await open_database(config)
    try:
        if args.crm_command == "list":
            entries = await crm_list(db, failed=args.failed, limit=args.limit)
            for entry in entries:
                print(
                    f"{entry.id}  {entry.status.value:9}  attempts={entry.attempts}  "
                    f"created={entry.created_at:%Y-%m-%d %H:%M:%S}  "
                    f"{entry.activity.get('Transaction ID', '')}  {entry.last_error or ''}"
                )
            if not entries:
                print("no activities")
        else:
            print(f"{await crm_replay(db, ids=ids)} activit(y/ies) queued again")
    finally:
        await db.close()
    return 0
