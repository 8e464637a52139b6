"""The live side: the WebSocket endpoint, connections, rooms, presence and fan-out."""
