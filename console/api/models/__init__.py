"""Request and response bodies: Base/Create/Update/Public per resource."""
