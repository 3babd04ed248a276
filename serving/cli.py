"""`triage serve`, `triage keys ...`, `triage feedback export`: the service's commands, added to the `triage`
command line through the `triage.commands` entry point (see pyproject.toml). Their heavy imports (uvicorn, the
app, the store) happen inside the commands, so the command line works without the `serve` extra and these
commands say what to install."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from serving.config import ServiceSettings, get_service_settings
from serving.roles import ROLES
from triage.console import err, require_extra
from triage.features.pii import mask_pii

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
feedback_app = typer.Typer(help="The leads' corrections as training rows.", no_args_is_help=True)

DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: TRIAGE_DATA_DIR).")]


def register(app: typer.Typer) -> None:
    """Add this shell's commands to the `triage` app (the `triage.commands` entry point)."""
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(feedback_app, name="feedback")


def _settings(data_dir: Path | None = None, **changes) -> ServiceSettings:
    settings = get_service_settings()
    if data_dir is not None:
        changes["data_dir"] = data_dir
    return settings.model_copy(update=changes)


def _store(data_dir: Path | None):
    require_extra("serve", "sqlalchemy", "alembic")
    from serving.store import Store

    settings = _settings(data_dir)
    return Store(settings.store_url(), protector=settings.data_protector())


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: TRIAGE_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: TRIAGE_PORT, 8000).")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Serve this model directory instead of the "
                                                               "MLflow champion.")] = None,
    data_dir: DataDirOption = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Worker processes on this port (default: TRIAGE_WORKERS, 1); they decide as one "
                                 "service through the store.")] = None,
) -> None:
    """Serve the API and the review pages. Every worker (and every instance over the same PostgreSQL) keeps a
    replica of the similarity window and decides in the store's global order (README: Deployment)."""
    require_extra("serve", "fastapi", "uvicorn", "sqlalchemy")
    import uvicorn

    changes: dict = {}
    if model is not None:
        changes.update(model_source="dir", model_dir=model.resolve())
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    if workers is not None:
        changes["workers"] = workers
    if data_dir is not None:
        data_dir = data_dir.resolve()
    settings = _settings(data_dir, **changes)
    url = f"http://{settings.host}:{settings.port}"
    if settings.workers == 1:
        from serving.app import create_app

        app = create_app(settings, background=True)
        err.print(f"serving on {url}  (review pages: /review, API docs: /docs)")
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                    timeout_graceful_shutdown=10)
        return
    from serving.store import Store

    # Migrate once, here, before the workers open the store side by side.
    Store(settings.store_url(), settings.sqlite_synchronous, settings.data_protector()).close()
    # Uvicorn starts each worker afresh from an import string: they read their settings from the environment.
    if data_dir is not None:
        changes["data_dir"] = data_dir
    os.environ.update({f"TRIAGE_{name.upper()}": str(value) for name, value in changes.items()})
    err.print(f"serving on {url} with {settings.workers} workers  (review pages: /review, API docs: /docs)")
    # A worker loading its model answers the supervisor's health check late on a busy host; with the default 5 s
    # uvicorn would kill and restart it, over and over.
    uvicorn.run("serving.cli:worker_app", factory=True, workers=settings.workers, host=settings.host,
                port=settings.port, log_config=None, access_log=False, timeout_graceful_shutdown=10,
                timeout_worker_healthcheck=60)


def worker_app():
    """The app of one worker of `triage serve --workers N` (uvicorn's factory; settings from the environment)."""
    from serving.app import create_app

    return create_app(get_service_settings(), background=True)


@keys_app.command("create")
def create_key(
    role: Annotated[str, typer.Option(help=", ".join(ROLES))],
    name: Annotated[str, typer.Option(help="Who holds the key.")],
    data_dir: DataDirOption = None,
    if_none: Annotated[bool, typer.Option("--if-none", help="Only when no key of this role exists yet.")] = False,
) -> None:
    """Create a key. The secret is printed once, as the last line; only its hash is stored."""
    store = _store(data_dir)
    try:
        if if_none and store.has_key(role):
            err.print(f"a {role} key exists already; none created (list them with `triage keys list`)")
            return
        try:
            principal, secret = store.create_key(name, role)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    finally:
        store.close()
    err.print(f"created key {principal.key_id} for {principal.name} ({principal.role}); "
              "keep it, it is not shown again:")
    print(secret)


@keys_app.command("list")
def list_keys(data_dir: DataDirOption = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Keys with their id, name, role, first characters, and when created or revoked."""
    store = _store(data_dir)
    try:
        keys = store.list_keys()
    finally:
        store.close()
    if as_json:
        print(json.dumps([asdict(key) for key in keys], default=str, ensure_ascii=False))
        return
    table = Table("id", "name", "role", "prefix", "created", "revoked")
    for key in keys:
        table.add_row(str(key.id), key.name, key.role, key.prefix + "…", f"{key.created_at:%Y-%m-%d %H:%M}",
                      "" if key.revoked_at is None else f"{key.revoked_at:%Y-%m-%d %H:%M}")
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[int, typer.Argument(help="The key's id (see `triage keys list`).")],
               data_dir: DataDirOption = None) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from serving.store import LastAdminKey

    store = _store(data_dir)
    try:
        found = store.revoke_key(key_id)
    except LastAdminKey as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    if not found:
        err.print(f"[red]error:[/red] no key {key_id}")
        raise typer.Exit(2)
    err.print(f"key {key_id} revoked")


@feedback_app.command("export")
def export_feedback(
    out: Annotated[Path, typer.Option(help="JSONL file to write.")],
    data_dir: DataDirOption = None,
) -> None:
    """Write every reviewed complaint (the latest review wins) as a training row: its text with personal data
    masked, category, tier, department, and what the model had said (a correction that changed nothing is a
    confirmation). `triage train --feedback FILE` merges them."""
    store = _store(data_dir)
    try:
        rows = list(store.feedback_rows())
    finally:
        store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:  # training data is kept and shared: the text masked as the model reads it
            handle.write(json.dumps({**asdict(row), "text": mask_pii(row.text)[0]}, ensure_ascii=False) + "\n")
    corrected = sum(r.action == "correct" for r in rows)
    err.print(f"{len(rows)} reviewed complaints ({corrected} corrected) written to {out}")
