"""Adapters for the ports: AWS (boto3) and HTTP (aiohttp). The in-memory fakes live in tests/fakes.py."""
