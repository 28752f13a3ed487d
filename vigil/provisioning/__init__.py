"""Provisioning: the installers' CLI (`vigil login`, the registry, bulk import, commissioning)
and the pure logic behind the console API's provisioning endpoints."""
