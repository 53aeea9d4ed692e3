"""Questions asked of the engine: perturbations with a known error (``perturb``), scale and period
sweeps (``sweeps``), gradient balance (``balance``), terms batched over checkpoints (``term_batch``).
"""

__all__: list[str] = []
