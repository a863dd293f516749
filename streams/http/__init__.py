"""The worker's HTTP surface: the API, the lead explorer, authentication, static files."""
