"""The worker's HTTP surface: the API, the lead explorer, authentication and the explorer's static files."""
