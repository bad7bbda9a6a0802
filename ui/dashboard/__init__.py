"""The clinic dashboard (View → Clinic dashboard): `ui.dashboard.window.ClinicDashboard` with
the clinical pages of `ui.dashboard.pages` and the Health and System alerts pages."""
