"""What every part shares: the ports, the lake's keys and schemas, settings, Parquet I/O, messages
and events, the lease, retries, token counts and the PII rules.
"""
