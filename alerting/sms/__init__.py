"""SMS providers behind one interface: demo (local log), SMPP 3.4 and a Twilio-style HTTP API."""
