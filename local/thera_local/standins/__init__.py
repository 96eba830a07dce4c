"""Local stand-ins for what the functions call outside AWS: Apollo's API (``apollo``), Firecrawl's
(``firecrawl``), Bedrock's InvokeModel inside the emulator (``bedrock``) and the startups' own web
sites (``sites``, a process of its own)."""
