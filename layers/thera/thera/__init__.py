"""Thera: startup discovery and matching. Shared core for every Lambda stage.

The core modules (quota, companies, keys, events, config) do no I/O; adapters
under ``thera.adapters`` hold the AWS and HTTP clients behind small ports.
"""
