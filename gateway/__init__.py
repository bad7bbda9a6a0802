"""The clinic gateway: a headless Novamind node serving FHIR R4 over HTTPS to the clinic's
other systems (issue 23). Every call runs through the same service functions as the desktop,
as the principal of the OAuth client's bound user account, so RBAC, audit and validation are
the services' own. Nothing here imports Qt or VTK."""
