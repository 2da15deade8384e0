"""Webhooks by Standard Webhooks: which event types there are (events), the URLs we send
to (url_policy), how we connect to them (transport), secrets and signatures (signing), one
attempt at a delivery (attempts), and the dispatcher that sends what the outbox holds
(dispatcher)."""
