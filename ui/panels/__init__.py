"""Feature panels mounted in the shell's patient workspace (Predictions, Actigraphy, Notes)
and the caseload view. Each takes (ctx, principal, patient_id, run_task)."""
