"""botbuilder's CloudAdapter for the Teams channel (inbound turns and proactive sends), configured from the
settings, with connector clients reused across turns (the SDK builds them anew for every activity)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, TokenResponse
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient
from botframework.connector.token_api.models import SignInUrlResponse, TokenExchangeRequest, TokenStatus

from bot.context import AppContext

# Connector clients kept per adapter, keyed by (bot app id, audience, service URL). Teams uses a handful of
# regional service URLs; the bound only matters if something sends us many distinct ones.
CONNECTOR_CLIENTS_KEPT = 64


def make_adapter(ctx: AppContext) -> CloudAdapter:
    settings = ctx.settings
    config = SimpleNamespace(
        APP_ID=settings.microsoft_app_id or "",
        APP_PASSWORD=settings.microsoft_app_password or "",
        APP_TYPE=settings.microsoft_app_type or "MultiTenant",
        APP_TENANTID=settings.microsoft_app_tenant_id or "",
    )
    authentication = ReusingAuthentication(
        ConfigurationBotFrameworkAuthentication(config), ConnectorClients(CONNECTOR_CLIENTS_KEPT)
    )
    return CloudAdapter(authentication)


# -- connector clients: built once per service URL, not once per activity -------------------------------
#
# Out of the box, CloudAdapter builds a new msrest ConnectorClient (with fresh credentials, hence a fresh
# token cache, and a fresh HTTP session) and a new UserTokenClient for every incoming activity and every
# proactive send; building those msrest clients is most of the SDK's time per activity. The classes below
# plug into botbuilder's public extension points (BotFrameworkAuthentication and ConnectorFactory) to reuse
# connector clients and to build a user-token client only if something asks it for a token.


ClientKey = tuple[str, str, str]  # (bot app id, audience, service URL)


class ConnectorClients:
    """A bounded LRU of connector clients. A client carries only the *bot's* credentials (its app id and
    the audience of the token), never a user's or a tenant's, so every part of what it authenticates as
    is in the key: a tenant's activities can share a service URL with another's, never other credentials.

    The lock covers only the dictionary: the outbox sender drives its adapter from its own thread."""

    def __init__(self, size: int):
        self._size = size
        self._clients: OrderedDict[ClientKey, ConnectorClient] = OrderedDict()
        self._lock = threading.Lock()

    async def get(self, key: ClientKey, build: Callable[[], Awaitable[ConnectorClient]]) -> ConnectorClient:
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        client = await build()
        with self._lock:
            client = self._clients.setdefault(key, client)  # a concurrent build for the same key may have won
            self._clients.move_to_end(key)
            while len(self._clients) > self._size:
                self._clients.popitem(last=False)  # turns in flight keep their client; the rest is garbage
        return client

    def __len__(self) -> int:
        return len(self._clients)


class ReusingConnectorFactory(ConnectorFactory):
    """The SDK's connector factory for one bot app id, answering from (and filling) the shared LRU."""

    def __init__(
        self, inner: ConnectorFactory, app_id: str, default_audience: str, clients: ConnectorClients
    ):
        self._inner = inner
        self._app_id = app_id
        self._default_audience = default_audience  # what the SDK uses when a caller passes no audience
        self._clients = clients

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (self._app_id, audience or self._default_audience, service_url)
        return await self._clients.get(key, lambda: self._inner.create(service_url, audience))


class LazyUserTokenClient(UserTokenClient):
    """Stands in for the SDK's user-token client (OAuth sign-in, which this bot does not use) and builds
    the real one on its first call, so turns that never sign anyone in never pay for it."""

    def __init__(self, build: Callable[[], Awaitable[UserTokenClient]]):
        self._build = build
        self._client: UserTokenClient | None = None

    async def _real(self) -> UserTokenClient:
        if self._client is None:
            self._client = await self._build()
        return self._client

    async def get_user_token(
        self, user_id: str, connection_name: str, channel_id: str, magic_code: str
    ) -> TokenResponse:
        return await (await self._real()).get_user_token(user_id, connection_name, channel_id, magic_code)

    async def get_sign_in_resource(
        self, connection_name: str, activity: Activity, final_redirect: str
    ) -> SignInUrlResponse:
        return await (await self._real()).get_sign_in_resource(connection_name, activity, final_redirect)

    async def sign_out_user(self, user_id: str, connection_name: str, channel_id: str) -> None:
        await (await self._real()).sign_out_user(user_id, connection_name, channel_id)

    async def get_token_status(self, user_id: str, channel_id: str, include_filter: str) -> list[TokenStatus]:
        return await (await self._real()).get_token_status(user_id, channel_id, include_filter)

    async def get_aad_tokens(
        self, user_id: str, connection_name: str, resource_urls: list[str], channel_id: str
    ) -> dict[str, TokenResponse]:
        return await (await self._real()).get_aad_tokens(user_id, connection_name, resource_urls, channel_id)

    async def exchange_token(
        self, user_id: str, connection_name: str, channel_id: str, exchange_request: TokenExchangeRequest
    ) -> TokenResponse:
        return await (await self._real()).exchange_token(
            user_id, connection_name, channel_id, exchange_request
        )


class ReusingAuthentication(BotFrameworkAuthentication):
    """botbuilder's own authentication (token validation, caller ids, credentials: all unchanged), with
    connector clients reused across turns and the user-token client built on demand."""

    def __init__(self, inner: BotFrameworkAuthentication, clients: ConnectorClients):
        self._inner = inner
        self._clients = clients

    def _reusing(self, factory: ConnectorFactory, claims: ClaimsIdentity) -> ConnectorFactory:
        audience = self._inner.get_originating_audience() or ""
        return ReusingConnectorFactory(factory, _bot_app_id(claims), audience, self._clients)

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = self._reusing(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._reusing(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return LazyUserTokenClient(lambda: self._inner.create_user_token_client(claims_identity))

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def _bot_app_id(claims: ClaimsIdentity) -> str:
    """The app id the SDK builds outbound credentials for: the token's audience, else its appid claim."""
    audience = claims.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
    app_id = (
        audience if audience is not None else claims.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    )
    return app_id or ""
