"""The clients as written: async. `_sync/` is generated from these files by unasync
(`make client`; clients/python/generate_sync.py), so each is written once."""
