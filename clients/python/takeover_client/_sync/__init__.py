"""The blocking clients, generated from `_async/` by unasync (`make client`): do not edit."""
