"""The application's foundation: errors, events, domain types, configuration, the encrypted store
and security. It sits below engines' callers (services), sync and the UI, and imports none of them
(the import-linter `layers` contract in .importlinter checks that)."""
