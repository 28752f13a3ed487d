"""The closed loop of grid management: incidents, escalation and notifications."""
