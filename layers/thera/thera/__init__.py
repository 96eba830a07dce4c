"""Thera: startup discovery and matching. Shared core for every Lambda stage.

The core is grouped by the flow's parts: ``lake`` (Apollo to silver), ``enrichment`` (domain health
and crawling), ``profiles`` (gold, embeddings, read models), ``matching`` (the index and ranking),
``training`` (the weekly models), over a ``kernel`` they share (ports, keys, schemas, settings).
The core does no SDK I/O: adapters under ``thera.adapters`` hold the AWS and HTTP clients behind
the ports, and ``thera.stages`` (with ``runtime`` and ``observability``) composes them per function.
"""
