"""The worker process: the Faust app, its runtime, the batch consumer, the processor, the lead cache and rebuild."""
