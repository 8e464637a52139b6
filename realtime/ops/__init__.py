"""Running the server: metrics, rate limits, structured logs and health."""
