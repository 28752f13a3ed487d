"""`vigil platform run`: the receiver, its bridge to Vigil's broker, and its background work
(supervision, registry reloads, dead letters copied into the database)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import uvicorn

from gateway.bridge import Bridge, BridgeConfig
from gateway.link import BrokerConfig
from gateway.platforms.app import PlatformApp
from gateway.platforms.bridge_sink import BridgeSink
from gateway.platforms.config import PlatformConfig
from gateway.platforms.profiles import Profiles
from gateway.platforms.receiver import Receiver
from gateway.platforms.registry_db import DbRegistry, copy_dead_letters
from gateway.platforms.state import State

log = logging.getLogger(__name__)

REGISTRY_POLL_S = 1.0
DEAD_LETTER_COPY_S = 1.0
# The platforms keep their connections open between pushes; closing an idle one just as the
# platform reuses it costs a failed push (and a retry).
KEEP_ALIVE_S = 75


def default_paths(var_dir: Path, gateway_id: str) -> tuple[Path, Path]:
    base = var_dir / "platforms"
    return base / f"{gateway_id}.state.sqlite", base / f"{gateway_id}.queue.sqlite"


class PlatformService:
    def __init__(self, config: PlatformConfig, broker: BrokerConfig, dsn: str,
                 var_dir: Path) -> None:  # fmt: skip
        state_path, queue_path = default_paths(var_dir, config.gateway_id)
        self.config = config
        self.dsn = dsn
        self.state = State(config.state_path or state_path)
        self.registry = DbRegistry(dsn)
        self.bridge = Bridge(
            BridgeConfig(
                gateway_id=config.gateway_id, site=config.site,
                queue_path=config.queue_path or queue_path, broker=broker, batch_delay_s=0.05,
            )
        )  # fmt: skip
        self.receiver = Receiver(
            self.state, Profiles.load(config.profiles_dir), self.registry, config.supervision,
            topic_prefix=f"vigil/v1/{config.site}/{config.gateway_id}",
        )  # fmt: skip
        self.app = PlatformApp(
            self.receiver, BridgeSink(self.bridge), list(config.accounts),
            max_body=config.max_body, ack_timeout_s=config.ack_timeout_s,
            ready=lambda: self.registry.loaded,
        )  # fmt: skip
        self._server: uvicorn.Server | None = None

    async def run(self) -> None:
        try:
            self.registry.refresh()
        except Exception as exc:  # pushes get 503 until a reload succeeds
            log.error("registry not loaded (pushes answered 503 until it is): %s", exc)
        self.bridge.start()
        replayed = self.app.replay()
        if replayed:
            log.info("sending again %d pushes staged before the last stop", replayed)
        server_config = uvicorn.Config(
            self.app, host=self.config.host, port=self.config.port, log_level="warning",
            lifespan="off", access_log=False, timeout_graceful_shutdown=5,
            timeout_keep_alive=KEEP_ALIVE_S,
        )  # fmt: skip
        self._server = uvicorn.Server(server_config)
        tasks = [asyncio.create_task(t) for t in
                 (self._supervise(), self._registry(), self._dead_letters())]  # fmt: skip
        log.info("platform receiver %s on http://%s:%d (%s)", self.config.gateway_id,
                 self.config.host, self.config.port,
                 ", ".join(f"/{a.source}/{a.name}" for a in self.config.accounts))  # fmt: skip
        try:
            await self._server.serve()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await self._copy_dead()
            self.bridge.stop()
            self.state.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    async def _supervise(self) -> None:
        last_forget = 0.0
        while True:
            now = time.time()
            self.app.supervise(now)
            if now - last_forget > 60:
                self.state.forget(now)
                last_forget = now
            await asyncio.sleep(self.config.check_s)

    async def _registry(self) -> None:
        while True:
            await asyncio.sleep(REGISTRY_POLL_S)
            try:
                await asyncio.to_thread(self.registry.refresh)
            except Exception as exc:
                log.warning("registry reload failed (kept the cached one): %s", exc)

    async def _copy_dead(self) -> None:
        # SQLite is used from the loop only; the database insert runs in a thread.
        rows = self.state.dead_letters(uncopied=True, limit=500)
        if not rows:
            return
        try:
            await asyncio.to_thread(copy_dead_letters, self.dsn, rows)
        except Exception as exc:
            log.warning("%d dead letters kept locally, database unreachable: %s", len(rows), exc)
            return
        self.state.copied([r[0] for r in rows])

    async def _dead_letters(self) -> None:
        while True:
            await asyncio.sleep(DEAD_LETTER_COPY_S)
            await self._copy_dead()
