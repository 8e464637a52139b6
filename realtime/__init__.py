"""The server: app factory, settings, REST routes, WebSocket, rooms and fan-out."""
