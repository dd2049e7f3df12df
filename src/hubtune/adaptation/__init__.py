"""Feature-based transfer: domain adaptation, domain discrepancy and transferability ranking.

- ``adaptation:`` recipe block → :func:`build_objective` (one source+target forward per step) with a
  method from :data:`ADAPTATION_METHODS` (dann, mmd/dan, coral, mcc, cdan, cdan_e, importance, contractive).
- :mod:`hubtune.adaptation.losses`: the losses as pure functions.
- :mod:`hubtune.adaptation.discrepancy`: MMD, proxy A-distance, CORAL distance between feature sets.
- :mod:`hubtune.adaptation.transferability`: LogME, LEEP, NCE, H-score.
- ``hubtune discrepancy`` / ``hubtune rank`` (:mod:`hubtune.analysis.cli`).
"""

from hubtune.adaptation.config import AdaptationConfig, adaptation_problems
from hubtune.adaptation.methods import ADAPTATION_METHODS, AdaptationMethod, Step
from hubtune.adaptation.objective import AdaptationObjective, build_objective

__all__ = ["ADAPTATION_METHODS", "AdaptationConfig", "AdaptationMethod", "AdaptationObjective", "Step",
           "adaptation_problems", "build_objective"]
