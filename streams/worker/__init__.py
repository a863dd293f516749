"""The worker process: Faust app, runtime, batch consumer, processor, lead cache, rebuild."""
