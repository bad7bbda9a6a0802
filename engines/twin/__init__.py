"""Digital twin engine: state estimation, region / neurotransmitter model and what-if projection.

Pure logic (NumPy/SciPy): takes typed observations, returns frozen results. The service layer
persists ``TwinState.to_json()`` as an immutable TwinSnapshot and publishes its own event.
"""

from ._io import DIMENSIONS
from .neuro import MedicationClass, MedicationModel, load_medication_model
from .observations import (
    Observation,
    ObservationModel,
    load_observation_model,
)
from .regions import (
    ACTIVITY_LABEL,
    Region,
    RegionActivity,
    RegionEvidence,
    RegionMap,
    explain_region,
    load_region_map,
)
from .state import (
    Contribution,
    Estimate,
    Explanation,
    TwinState,
    estimate_cohort,
    estimate_twin,
)
from .whatif import Projection, WhatIfModel, load_whatif_model, project

__all__ = [
    "ACTIVITY_LABEL",
    "DIMENSIONS",
    "Contribution",
    "Estimate",
    "Explanation",
    "MedicationClass",
    "MedicationModel",
    "Observation",
    "ObservationModel",
    "Projection",
    "Region",
    "RegionActivity",
    "RegionEvidence",
    "RegionMap",
    "TwinState",
    "WhatIfModel",
    "estimate_cohort",
    "estimate_twin",
    "explain_region",
    "load_medication_model",
    "load_observation_model",
    "load_region_map",
    "load_whatif_model",
    "project",
]
