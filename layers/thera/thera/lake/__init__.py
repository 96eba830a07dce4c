"""The daily pull into the lake: Apollo pages under the shared quota (ingest, quota), raw to bronze
(companies), bronze to silver (refine, silver), and a day rebuilt from its raw files (replay).
"""
