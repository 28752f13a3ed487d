"""Carriers' IoT platforms (CTWing AEP, OneNET) as a gateway: their HTTP pushes in, Vigil's wire
contract out (docs/platforms.md)."""
