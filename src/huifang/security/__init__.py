"""Security: users and roles, sessions, CSRF, the tamper-evident audit log, PII encryption.

See docs/security.md for the model and the operating procedures (key rotation, audit
verification)."""
