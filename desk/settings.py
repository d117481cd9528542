"""Runtime settings, read from the environment (prefix ``DESK_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-insecure-change-me"  # noqa: S105 - refused outside dev mode


class Settings(BaseSettings):
    """Every knob of the API, the worker and ``desk dev``; see the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="DESK_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    database_url: str = "sqlite+aiosqlite:///./data/desk.db"
    database_pool_size: int = 10

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "atum-desk"
    # Set on the namespace by `desk temporal setup`: how long a closed workflow's history
    # stays in Temporal's store (and its visibility); it bounds that store's growth.
    temporal_retention_days: int = Field(7, ge=1, le=3650)
    # How long an HTTP request waits for its ticket change to be applied and projected
    # before answering 503 (the change is not lost: the workflow keeps retrying).
    update_timeout_seconds: float = Field(10.0, gt=0)

    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "atum-desk"
    jwt_audience: str = "atum-desk-api"
    access_token_minutes: int = Field(15, gt=0)
    # How long an API process trusts a caller it looked up (desk/auth/callers.py): a user
    # deactivated or demoted elsewhere is refused within this many seconds. 0: look up on
    # every request.
    principal_cache_seconds: float = Field(2.0, ge=0, le=60)
    refresh_token_days: int = Field(14, gt=0)
    # argon2id cost of a password hash (argon2-cffi's defaults: RFC 9106's low-memory
    # choice); raise it on stronger machines, existing hashes follow at the next sign-in.
    password_hash_time_cost: int = Field(3, ge=1, le=20)
    password_hash_memory_kib: int = Field(65536, ge=1024, le=4 * 1024 * 1024)
    login_max_failures: int = Field(5, gt=0)
    login_lockout_minutes: int = Field(15, gt=0)
    # A portal sign-in lasts this long without use; each use extends it again.
    session_hours: float = Field(12, gt=0)

    upload_dir: Path = Path("./data/uploads")
    upload_max_bytes: int = Field(25 * 1024 * 1024, gt=0)
    upload_max_per_ticket: int = Field(100, gt=0)

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "desk@localhost"
    smtp_starttls: bool = False
    public_base_url: str = "http://127.0.0.1:8000"
    # Browser origins allowed to call the API cross-site (CORS), comma-separated; none by
    # default. Bearer tokens only: no cookies are ever sent cross-site.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Whether webhooks may target loopback, private, link-local or other non-public
    # addresses (SSRF). Unset: allowed in dev and test (local receivers), refused in prod.
    webhook_allow_private_targets: bool = False

    # `desk dev`: where the embedded pieces listen and keep their files.
    data_dir: Path = Path("./data")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    # How many worker processes `desk dev` runs, and how many API processes share the API
    # port (the API entry point runs that many uvicorn workers, in `desk dev` and compose).
    workers: int = Field(1, ge=1, le=32)
    api_processes: int = Field(1, ge=1, le=32)

    # Observability: the API's /metrics, and the worker's own metrics endpoint.
    metrics_enabled: bool = True
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(9464, ge=0, le=65535)  # 0: no worker metrics endpoint
    # Run workflow code in the SDK's sandbox (determinism guards, a module instance per
    # workflow run). Off trades those guards for the worker CPU the sandbox costs.
    workflow_sandbox: bool = True

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_default_secret_outside_dev(self) -> Settings:
        if self.env != "dev" and self.jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET:
            raise ValueError(
                "DESK_JWT_SECRET is the built-in development secret; set a real one "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return self

    @model_validator(mode="after")
    def _private_webhook_targets_outside_prod(self) -> Settings:
        # An explicit value (argument, environment, .env) wins; otherwise it follows env.
        if "webhook_allow_private_targets" not in self.model_fields_set:
            self.webhook_allow_private_targets = self.env in ("dev", "test")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
