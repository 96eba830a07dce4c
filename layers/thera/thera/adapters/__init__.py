"""Adapters for the ports: AWS (boto3), HTTP (aiohttp) and in-memory fakes for tests."""
