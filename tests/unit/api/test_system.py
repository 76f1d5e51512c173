"""The system routes start loading the person watch list when the app starts serving: their
router's lifespan is merged into the app's by FastAPI (checked here, so an upgrade that
stopped merging it would not leave nodes never ready)."""

import asyncio
from types import SimpleNamespace

from fastapi import FastAPI

from polex.api.system import router


class Watchlist:
    started = 0

    def start(self) -> None:
        self.started += 1


def test_the_watch_list_starts_loading_with_the_app() -> None:
    watchlist = Watchlist()
    app = FastAPI()
    app.state.node = SimpleNamespace(screening=SimpleNamespace(watchlist=watchlist))
    app.include_router(router)

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            assert watchlist.started == 1

    asyncio.run(serve())
