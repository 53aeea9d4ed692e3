"""The models geoviz runs on a sample: checkpoint reading (``checkpoints``), the depth estimator
(``depth``), the latent encoders (``encoders``) and which serves which input (``choice``).
"""

__all__: list[str] = []
