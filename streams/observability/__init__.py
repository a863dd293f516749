"""What operators watch: Prometheus metrics, logging setup and the lag and Redis-health probes."""
