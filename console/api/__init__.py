"""The console's REST API: one router per resource, sign-in, roles and the audit log."""
