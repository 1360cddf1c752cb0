"""``rg-import users``'s library side: a site's users, or one line on why not."""

from __future__ import annotations

from importer.config import Credentials
from importer.errors import ApiError, AuthError, ConfigError, NotFoundError, RunAborted
from importer.send.client import Client
from importer.send.client_settings import ClientSettings
from importer.send.users import User


def list_site_users(site: str, credentials: Credentials, settings: ClientSettings) -> list[User]:
    """The users of ``site``, in the API's order.

    Raises AuthError (exit 4) for refused credentials, ConfigError (exit 2)
    for an unknown site, RunAborted (exit 4) when the API cannot be reached or
    answers something else.
    """
    try:
        with Client(credentials, settings) as client:
            return client.list_users(site)
    except AuthError as exc:
        raise AuthError(
            f"{exc.error}; check RG_USERNAME and RG_PASSWORD, and that they may use site {site}",
            status=exc.status, method=exc.method, url=exc.url, attempts=exc.attempts,
        ) from exc  # fmt: skip
    except NotFoundError as exc:
        raise ConfigError(
            f"site {site} not found (HTTP 404: {exc.error}); check --site or RG_SITE"
        ) from exc
    except ApiError as exc:
        raise RunAborted(
            f"could not list the users of site {site}: {exc}; check the base URL and the "
            "network (rg-import doctor checks both)"
        ) from exc
