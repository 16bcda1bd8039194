"""The rules of Grace as plain values and functions.

Stages and transitions, governance gates, snapshot validation, rollback
triggers, severity, health classification, stage history and trust.  Nothing
here performs I/O: no database, no HTTP, no asyncio, no clock reads except
through a value passed in.  Everything is testable with plain values.
"""
