"""The one place SegTune's settings are read (environment prefix SEGTUNE_)."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a SegTune deployment; the defaults are the embedded single-machine setup."""

    model_config = SettingsConfigDict(env_prefix="SEGTUNE_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    broker_url: str = ""
    # How often a worker on the filesystem broker looks for new jobs (Redis pushes them).
    broker_poll_s: float = Field(1.0, gt=0)
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = Field(2, ge=1)
    max_upload_mb: int = Field(2048, ge=1)
    max_form_fields: int = Field(1000, ge=1)
    max_json_kb: int = Field(1024, ge=1)
    worker_concurrency: int = Field(1, ge=1)
    worker_queues: str = "cpu,gpu,train"
    heartbeat_s: float = Field(5.0, gt=0)
    worker_lost_after_s: float = Field(60.0, gt=0)
    lost_jobs: Literal["fail", "requeue"] = "fail"
    max_attempts: int = Field(3, ge=1)
    max_video_duration_s: float = Field(4 * 3600.0, gt=0)
    max_frame_pixels: int = Field(8192 * 8192, gt=0)
    max_sampled_frames: int = Field(20000, ge=1)
    report_block_seconds: float = Field(10.0, ge=0, le=3600)
    report_frame_rate: float = Field(30.0, gt=0, le=1000)
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_prefix: str = ""
    admin_email: str = ""
    admin_password: SecretStr = SecretStr("")
    session_hours: float = Field(12.0, gt=0)
    cookie_secure: bool = False
    login_attempts: int = Field(5, ge=1)
    login_window_s: float = Field(300.0, gt=0)

    @cached_property
    def data_path(self) -> Path:
        """Absolute data directory (created on first use)."""
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or SQLite inside the data directory."""
        return self.database_url or f"sqlite:///{self.data_path / 'segtune.db'}"

    @property
    def effective_broker_url(self) -> str:
        """BROKER_URL, or Celery's filesystem broker inside the data directory."""
        return self.broker_url or "filesystem://"

    @property
    def uses_filesystem_broker(self) -> bool:
        """Whether jobs travel through files under the data directory (embedded mode)."""
        return self.effective_broker_url.startswith("filesystem://")

    @property
    def max_upload_bytes(self) -> int:
        """Upload size limit in bytes."""
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_json_bytes(self) -> int:
        """Size limit in bytes of any request body other than an upload or a mask."""
        return self.max_json_kb * 1024


def load_settings(**overrides) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)
