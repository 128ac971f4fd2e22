"""The Faust shell: the worker's app, agents and services, its metrics and probes, the
topics it needs, and the embedded broker of the demo. Everything version-specific about
Faust, mode and aiokafka lives in `streamer.faust015`; the logic lives in `streamer.core`.
"""
