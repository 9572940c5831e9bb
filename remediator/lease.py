"""Leader election on a coordination.k8s.io/v1 Lease: only the holder changes anything.

Written here rather than taken from `kubernetes_asyncio.leaderelection`, which times other
holders on the wall clock (`time.time()`) and writes naive local times with a `Z` suffix, and
never counts `leaseTransitions`. The rules are client-go's, plus a wait before creating:

- GET the Lease; create it once it has been absent for a lease duration as observed here (a
  deleted Lease's holder may still be acting; 409 AlreadyExists: someone else did, re-read);
- every write is a PUT carrying the resourceVersion we read (409: someone else wrote, re-read);
- another holder's Lease is taken over only when it has not changed for its
  leaseDurationSeconds as observed on *our* monotonic clock since we first saw that version:
  the holder's renewTime is never compared with our wall clock (clocks of nodes differ);
- the holder renews every `renew_every`; it considers itself leader only while its last
  successful write was sent less than `duration - renew_every` ago (monotonic), so it stops
  acting `renew_every` before anyone may take the Lease, even while the API is unreachable;
- seeing another holder on the Lease ends leadership at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.actuators import NotLeader
from remediator.config import LeaseConfig

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_FAILURES = (ApiException, aiohttp.ClientError, asyncio.TimeoutError, OSError)


def micro_time(moment: datetime) -> str:
    """A MicroTime as the API server writes it: RFC 3339, microseconds, UTC, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}"


def lease_namespace(cfg: LeaseConfig, sa_file: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The configured namespace, else the pod's own (the install's namespace)."""
    if cfg.namespace:
        return cfg.namespace
    try:
        return sa_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"remediator.lease.namespace: not set and not running in a pod ({sa_file}: "
            f"{exc.strerror}); name the namespace the Lease lives in"
        ) from exc


@dataclass(frozen=True)
class Seen:
    """One version of the Lease as we observed it, and when (our monotonic clock) we first did."""

    resource_version: str
    holder: str
    duration: float  # its leaseDurationSeconds (ours when it has none)
    since: float


class LeaseKeeper:
    """Keeps (or waits for) the leader Lease. `run()` is the loop; `fence()` is the actuators'
    `Fence`; `release()` on shutdown hands the Lease over without a wait."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        duration: float,
        renew_every: float,
        request_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not 0 < renew_every * 3 <= duration:
            raise ValueError("renew_every must be above 0 and at most a third of duration")
        self.api = client.CoordinationV1Api(api)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.duration, self.renew_every = duration, renew_every
        self.window = duration - renew_every  # how long one successful write lets us act
        self.timeout = min(request_timeout, self.window)
        self._clock, self._now = clock, now
        self._holding = False
        self._renewed_at: float | None = None  # when our last successful write was sent
        self._seen: Seen | None = None
        self._released = False
        self.transitions = 0  # times we became leader (for logs and tests)

    @classmethod
    def from_config(
        cls, api: client.ApiClient, cfg: LeaseConfig, *, request_timeout: float = 5.0
    ) -> LeaseKeeper:
        return cls(
            api,
            namespace=lease_namespace(cfg),
            name=cfg.name,
            identity=cfg.identity or default_identity(),
            duration=cfg.duration,
            renew_every=cfg.renew_every,
            request_timeout=request_timeout,
        )

    # -- what the rest of the remediator asks -------------------------------------------------

    def holds(self) -> bool:
        """We hold the Lease and our last successful write is recent enough to act on."""
        return (
            self._holding
            and self._renewed_at is not None
            and self._clock() - self._renewed_at < self.window
        )

    def fence(self) -> None:
        if not self.holds():
            holder = self._seen.holder if self._seen else "unknown"
            raise NotLeader(
                f"not the leader: Lease {self.namespace}/{self.name} is held by "
                f"{holder or 'nobody'}, or this process ({self.identity}) could not renew it "
                f"within {self.window:g}s"
            )

    def bind_gauge(self, gauge: Any) -> None:
        """Export `holds()` as 1/0, computed at scrape time (prometheus_client Gauge)."""
        gauge.set_function(lambda: 1.0 if self.holds() else 0.0)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Acquire, then renew, until cancelled; a stopped loop no longer leads."""
        try:
            while True:
                reached = await self.step()
                # after a failure retry soon: the window allows several attempts
                await asyncio.sleep(self.renew_every if reached else self.renew_every / 4)
        finally:
            self._drop("the lease loop stopped")

    async def step(self) -> bool:
        """One round: read the Lease, then create, renew or take it over when we may.
        False when the API could not be reached or answered an error."""
        for _ in range(2):  # a 409 means someone wrote since our read: read once more
            started = self._clock()
            try:
                await self._round(started)
                return True
            except ApiException as exc:
                if exc.status != 409:
                    log.warning("lease %s/%s: %s", self.namespace, self.name, _why(exc))
                    return False
            except _FAILURES as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, _why(exc))
                return False
        return True

    async def _round(self, started: float) -> None:
        lease = await self._read()
        if self._released:
            return  # released for good: never take the Lease back
        if lease is None:
            # Deleted, or never made: whoever held it may still act for up to a duration, so
            # its absence is timed like an unchanged version before anyone creates it.
            self._drop("the Lease is gone")
            absent = self._note("", "", self.duration)
            if self._clock() - absent.since >= absent.duration:
                await self._write(None, started)
            return
        seen = self._observe(lease)
        if seen.holder == self.identity:
            await self._write(lease, started)
        elif not seen.holder:
            await self._write(lease, started)  # released: free to take
        elif self._clock() - seen.since >= seen.duration:
            log.warning(
                "lease %s/%s: %s has not renewed for %gs as observed here: taking over",
                self.namespace,
                self.name,
                seen.holder,
                seen.duration,
            )
            await self._write(lease, started)
        else:
            self._drop(f"held by {seen.holder}")

    def _observe(self, lease: client.V1Lease) -> Seen:
        spec = lease.spec or client.V1LeaseSpec()
        return self._note(
            str(lease.metadata.resource_version or ""),
            spec.holder_identity or "",
            float(spec.lease_duration_seconds or self.duration),
        )

    def _note(self, resource_version: str, holder: str, duration: float) -> Seen:
        """The version seen, timed from when we first saw it ("" is: no Lease at all)."""
        if self._seen is None or self._seen.resource_version != resource_version:
            self._seen = Seen(resource_version, holder, duration, since=self._clock())
        return self._seen

    # -- API calls ----------------------------------------------------------------------------

    async def _read(self) -> client.V1Lease | None:
        try:
            return await self._call(self.api.read_namespaced_lease, self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def _write(self, old: client.V1Lease | None, started: float) -> None:
        now = micro_time(self._now())
        spec = (old.spec if old is not None else None) or client.V1LeaseSpec()
        ours = spec.holder_identity == self.identity and old is not None
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.duration),
                "renewTime": now,
                "acquireTime": micro_time(spec.acquire_time) if ours and spec.acquire_time else now,
                "leaseTransitions": (spec.lease_transitions or 0)
                + (0 if ours or old is None else 1),
            },
        }
        if old is None:
            written = await self._call(self.api.create_namespaced_lease, self.namespace, body)
        else:
            meta = old.metadata
            body["metadata"].update(
                resourceVersion=meta.resource_version,
                labels=meta.labels,
                annotations=meta.annotations,
            )
            written = await self._replace(body)
        self._observe(written)
        if self._released:
            return  # release() ran while this write was in flight; it clears the holder
        self._renewed_at = started
        if not self._holding:
            self._holding = True
            self.transitions += 1
            log.info("lease %s/%s: %s is the leader", self.namespace, self.name, self.identity)

    async def _replace(self, body: dict[str, Any]) -> client.V1Lease:
        return await self._call(self.api.replace_namespaced_lease, self.name, self.namespace, body)

    async def _call(self, method: Any, *args: Any) -> client.V1Lease:
        # a dict body, not a V1Lease: MicroTimes go out exactly as micro_time() wrote them
        lease: client.V1Lease = await asyncio.wait_for(
            method(*args, _request_timeout=self.timeout), self.timeout
        )
        return lease

    def _drop(self, why: str) -> None:
        if self._holding:
            log.warning(
                "lease %s/%s: %s is no longer the leader: %s",
                self.namespace,
                self.name,
                self.identity,
                why,
            )
        self._holding = False

    async def release(self) -> None:
        """Stop acting for good, then clear holderIdentity so a successor need not wait.
        Never raises: on failure the Lease simply expires."""
        self._released = True
        self._drop("released")
        for _ in range(2):
            try:
                lease = await self._read()
                spec = lease.spec if lease is not None else None
                if lease is None or spec is None or spec.holder_identity != self.identity:
                    return
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "namespace": self.namespace,
                        "resourceVersion": lease.metadata.resource_version,
                        "labels": lease.metadata.labels,
                        "annotations": lease.metadata.annotations,
                    },
                    "spec": {
                        "leaseDurationSeconds": spec.lease_duration_seconds,
                        "renewTime": micro_time(self._now()),
                        "leaseTransitions": spec.lease_transitions or 0,
                    },
                }
                await self._replace(body)
                log.info("lease %s/%s: released by %s", self.namespace, self.name, self.identity)
                return
            except ApiException as exc:
                if exc.status != 409:
                    log.warning("lease release: %s", _why(exc))
                    return
            except _FAILURES as exc:
                log.warning("lease release: %s", _why(exc))
                return


def _why(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"
