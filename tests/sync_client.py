"""A client that keeps a copy of its calendar through GET /sync, as the contract says."""

from __future__ import annotations

from typing import Any

import httpx


class SyncingClient:
    """Applies every page in order: upsert an `event`, drop a `removed`."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], limit: int = 500) -> None:
        self.http = http
        self.headers = headers
        self.limit = limit
        self.cursor: str | None = None
        self.copy: dict[int, dict[str, Any]] = {}
        self.pages = 0

    async def page(self) -> bool:
        """Read and apply one page; whether more follow."""
        params: dict[str, Any] = {"limit": self.limit}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        response = await self.http.get("/api/v1/sync", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        ids = [
            item["event"]["id"] if item["type"] == "event" else item["event_id"]
            for item in body["items"]
        ]
        assert len(ids) == len(set(ids)), f"an event twice in one page: {ids}"
        assert len(ids) <= self.limit
        for item in body["items"]:
            if item["type"] == "event":
                self.copy[item["event"]["id"]] = item["event"]
            else:
                assert item["reason"] in ("deleted", "revoked")
                self.copy.pop(item["event_id"], None)
        self.cursor = body["next_cursor"]
        self.pages += 1
        return bool(body["has_more"])

    async def catch_up(self) -> None:
        while await self.page():
            pass


async def everything_visible(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[int, Any]:
    """What GET /events answers, every page of it, by id."""
    found: dict[int, Any] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        response = await http.get("/api/v1/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        found.update({item["id"]: item for item in body["items"]})
        cursor = body["next_cursor"]
        if not cursor:
            return found
