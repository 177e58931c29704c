"""Sinks: consumers that write pipeline records outside (chat destinations, webhooks, audit stores, SIEMs)."""
