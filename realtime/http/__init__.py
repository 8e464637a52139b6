"""The REST side: routes, bodies and parameters, wire models, OpenAPI, the request envelope."""
