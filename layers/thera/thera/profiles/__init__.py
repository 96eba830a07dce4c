"""Gold startup profiles (profiles, gold), their embeddings within a daily budget (embed), the read
models published from them (publish), and what a match shows of a startup (card).
"""
