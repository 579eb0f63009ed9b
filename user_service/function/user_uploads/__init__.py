"""The reference User-Service: upload screen, signed uploads, announcements and verdicts (docs/user-service.md)."""
