"""What the lake learns about each company's website: domain health and its gate, and the home page
crawled through Firecrawl behind the shared circuit breaker (crawl, breaker, content).
"""
