"""Feature panels mounted in the patient workspace (Predictions, Actigraphy, Note analysis) and
the caseload view. Each is a ui.workspace.PatientPanel (the caseload a Panel): it takes
(ctx, principal, patient_id, tasks) and makes its own TaskManager when given none."""
