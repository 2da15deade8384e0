"""The blocking clients. client.py and transport.py are generated from `_async/` by unasync
(`make client`): do not edit them. This file is written by hand."""
