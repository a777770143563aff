"""Processes, mailboxes, immutable messages, links, monitors, registry and the Runtime."""
