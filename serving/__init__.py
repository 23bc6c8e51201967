"""The BentoML service for CRM systems: launcher, settings, auth, schemas, scoring."""
