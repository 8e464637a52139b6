"""The use cases: each checks the caller's role, owns its transaction and notifies after commit."""
