"""The specifications' own reference code, loaded from their Markdown at run time (never copied).

Benchmarks use it as the yardstick and ``bench/make_golden.py`` as the oracle for the golden numbers
the tests store. The specification folder is ``$GEOVIZ_SPECS`` or ``../shared/specs`` beside the
checkout.
"""

from __future__ import annotations

import os
import re
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def specs_dir() -> Path:
    return Path(os.environ.get("GEOVIZ_SPECS", ROOT.parent / "shared" / "specs"))


def available() -> bool:
    d = specs_dir()
    return (d / "000_depth_consistency.md").is_file() and (d / "004_g2_monodepth.md").is_file()


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _module(name: str, sources: list[str]) -> types.ModuleType:
    mod = types.ModuleType(name)
    exec("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n", mod.__dict__)
    for src in sources:
        exec(compile(src, f"<{name}>", "exec"), mod.__dict__)
    return mod


def load_000() -> types.ModuleType:
    """The 000 document's implementation block (``depth_consistency_loss`` and its helpers)."""
    blocks = [b for b in _python_blocks(specs_dir() / "000_depth_consistency.md") if "def depth_consistency_loss" in b]
    return _module("spec000", blocks)


def load_004() -> types.ModuleType:
    """The 004 document's class blocks: ``WeightedDataLoss``, ``StandardizeData``, ``WeightedMSGradLoss``."""
    wanted = ("class WeightedDataLoss", "class StandardizeData", "class WeightedMSGradLoss")
    blocks = [b for b in _python_blocks(specs_dir() / "004_g2_monodepth.md") if b.lstrip().startswith(wanted)]
    mod = _module("spec004", blocks)

    def g2_total(pred, gt, mask):
        data, std, grad = mod.WeightedDataLoss(), mod.StandardizeData(), mod.WeightedMSGradLoss(scales=[1, 2, 4, 8])
        adepth = data(pred, gt, mask)
        sd, sg = std(pred, gt, mask)
        rdepth = data(sd, sg, mask)
        rgrad = grad(sd, sg, mask)
        return adepth + rdepth + 0.5 * rgrad, adepth, rdepth, rgrad

    mod.g2_total = g2_total  # the document's Trainer.compute_loss flow, without .item()
    return mod
