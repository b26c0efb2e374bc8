"""Client configuration: arguments first, then the environment (``EASYPAY_BASE_URL``, ``EASYPAY_API_KEY``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from easypay_client.errors import ConfigurationError

USER_AGENT = "easypay-client-python/0.1.0"


@dataclass(frozen=True)
class Config:
    base_url: str
    #: An API key (``ak_…:sk_…``) or a user token (JWT); None sends no credentials.
    api_key: str | None
    timeout_s: float = 30.0
    max_retries: int = 4
    user_agent: str = USER_AGENT

    def __repr__(self) -> str:  # never show the secret
        shown = None if self.api_key is None else self.api_key.split(":", 1)[0] + ":…"
        return f"Config(base_url={self.base_url!r}, api_key={shown!r}, timeout_s={self.timeout_s}, max_retries={self.max_retries})"


def resolve(
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    timeout_s: float = 30.0,
    max_retries: int = 4,
    env: Mapping[str, str] | None = None,
) -> Config:
    environ = os.environ if env is None else env
    url = base_url or environ.get("EASYPAY_BASE_URL")
    if not url:
        raise ConfigurationError("no base URL: pass base_url= or set EASYPAY_BASE_URL (e.g. http://127.0.0.1:8000)")
    key = api_key if api_key is not None else environ.get("EASYPAY_API_KEY")
    return Config(base_url=url.rstrip("/"), api_key=key or None, timeout_s=timeout_s, max_retries=max_retries)
