"""The parts of `streamer evaluate` (the entry point is `streamer/evaluation/command.py`).

- `inputs`   reads the JSONL files line by line into numpy arrays (event time as
             seconds and days since 1970-01-01, UTC);
- `metrics`  the figures, as pure functions of those arrays;
- `offline`  the batch gradient-boosting reference on the engine's labeled examples;
- `plots`    the PNG figures, drawn from the result dictionary alone.
"""
