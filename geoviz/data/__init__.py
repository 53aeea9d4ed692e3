"""Files → :class:`~geoviz.data.sample.Sample`: readers with errors naming the input (``readers``), the
Sample and its building (``sample``), the folder layouts of a sample and a dataset (``layouts``),
synthetic scenes with exact depth (``synth``), k_obj calibration (``calibration``), temporary files
(``tempfiles``). Imports only ``losses``.
"""

__all__: list[str] = []
