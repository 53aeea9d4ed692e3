"""geoviz: geometry-loss diagnostics over the ``losses`` library — the engine, and its faces (the
dashboard, the CLI).

The public face, for notebooks and scripts::

    import geoviz

    sample = geoviz.load_sample("assets/insert_box")         # a sample folder → Sample
    report = geoviz.evaluate(sample)                          # every term, every checkpoint
    weights = geoviz.preset(geoviz.preset_for(report.kind))  # the kind's preset: {term: weight}
    totals = geoviz.combine(report, weights).totals           # {checkpoint: total}
    report.scales["step_2000"].estimate                       # the checkpoint's scale readout
    geoviz.list_terms()                                       # the registered term names

    with geoviz.RunRecorder("runs/insertion") as rec:        # in a training loop: a run folder
        rec.log(step, sample="chair_03", context=c, target=t, mask=m, pred=p)

The floors underneath (each imports only from its own floor or below): ``geoviz.data`` (files →
Sample), ``geoviz.models``, ``geoviz.engine`` (Report, combine, presets, the scale readout),
``geoviz.analysis`` (sweeps, balance), ``geoviz.report`` (figures, bundles), ``geoviz.app`` (the
dashboard, the only Gradio importer), ``geoviz.cli``.
"""

from geoviz.analysis.balance import balance_weights, gradient_balance
from geoviz.analysis.sweeps import Sweep, period_sweep, scale_sweep
from geoviz.data.layouts import list_dataset, load_sample
from geoviz.data.readers import InputError
from geoviz.data.runs import RunRecorder, read_run
from geoviz.data.sample import Sample, build_sample
from geoviz.engine.combine import Combined, combine
from geoviz.engine.evaluate import Report, evaluate
from geoviz.engine.extend import register_term
from geoviz.engine.scale import ScaleReadout
from geoviz.engine.terms import REGISTRY, Presentation
from geoviz.engine.weights import KIND_PRESETS, PRESETS, WeightsConfig, preset, preset_for
from geoviz.version import __version__

__all__ = [
    "__version__",
    "load_sample", "build_sample", "list_dataset", "Sample", "InputError", "RunRecorder", "read_run",
    "evaluate", "combine", "Report", "Combined", "ScaleReadout", "list_terms", "register_term", "Presentation",
    "PRESETS", "KIND_PRESETS", "preset", "preset_for", "WeightsConfig",
    "scale_sweep", "period_sweep", "Sweep", "balance_weights", "gradient_balance",
]


def list_terms() -> list[str]:
    """The registered term names, in the order the dashboard, the CSV and the presets use.

    >>> "latent_area" in list_terms()
    True
    """
    return list(REGISTRY)
