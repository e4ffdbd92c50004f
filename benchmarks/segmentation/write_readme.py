"""Write benchmarks/results/shapes_segmentation/README.md from the committed study.

After ``bayesal run configs/shapes_segmentation.yaml --out
benchmarks/results/shapes_segmentation`` and ``bayesal report`` on it::

    .venv/bin/python benchmarks/segmentation/write_readme.py

Every number and verdict of the README is a claim of
``benchmarks/claims_parts/segmentation.py``, rendered here from the same templates, so
``tests/test_claims.py`` checks the README against ``results.csv``.
"""

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("claims", "benchmarks/claims.py")
c = importlib.util.module_from_spec(spec)
sys.modules["claims"] = c
spec.loader.exec_module(c)
spec = importlib.util.spec_from_file_location("segp", "benchmarks/claims_parts/segmentation.py")
seg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seg)
root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
d = root / "benchmarks/results/shapes_segmentation"
rows = "\n".join(seg.table_row(c, s).render(root) for s in ("random", "bald", "entropy"))
verdicts = "\n".join(f"- {seg.verdict(c, s).render(root)}." for s in seg.ARMS)
text = f"""# Shapes segmentation: random vs per-pixel BALD and entropy, one MC-dropout U-Net

Issue 23's segmentation study (`configs/shapes_segmentation.yaml`, `task: segmentation`).

- **Data**: the synthetic shapes of `bayesal.data.shapes`, `load_shapes(n_train=300,
  n_test=100, image_size=32, seed=0)`: 32 x 32 grey images with one to three circles,
  squares and triangles (each type in its own intensity band, the bands 0.05 apart) on a
  dark ramped background, Gaussian pixel noise 0.1; 4 classes (background, circle,
  square, triangle). The same 300 pool and 100 test images for every seed.
- **Posterior, the same for every arm**: the U-Net of `bayesal.models.unet` (base 8,
  depth 2, batch norm, `Dropout2d(0.5)` before the 1x1 classifier) under MC dropout,
  K = 20 masks; trained afresh every round, Adam lr 3e-3, 500 steps of batch 16,
  per-pixel cross-entropy. The initialisation and training depend on the seed, the round
  and the labelled images only, never on the strategy.
- **Protocol**: 4 random initial images (the same for every arm of a seed), then 6 rounds
  of 4 images (to 28 labelled images), 5 seeds. Arms: `random`, `bald` and `entropy`, the
  per-pixel scores of `bayesal.tasks.segmentation` averaged over each image's pixels
  (`reduction: mean`), top-4 each round.
- **Metric**: the test mIoU (mean over the 4 classes of the intersection over union of
  the per-pixel argmax of the MC-averaged predictive) after every round's labels.

Regenerate (two workers; run on a 2-core machine shared with other jobs, so the timings
in `results.csv` are not clean measurements):

```bash
flock /tmp/bayesal-heavy.lock bayesal run configs/shapes_segmentation.yaml \\
    --out benchmarks/results/shapes_segmentation --workers 2
bayesal report benchmarks/results/shapes_segmentation
```

`results.csv` holds every round (`miou`, `pixel_accuracy`, the acquired ids, timings);
`summary.md`, `paired.md` and `per_seed.md` are the report's; `trials/` holds the
per-trial files `bayesal run` resumes from.

## Results

AULC: per seed, the trapezoid area under the mIoU curve against the number of labelled
images (4 to 28) divided by the span, i.e. the average mIoU over the budget; mean ± s.d.
over the 5 seeds, in mIoU points (x 100). *Paired vs random*: per seed, the arm's AULC
minus random's, mean [95% paired t interval], wins/losses (from `paired.md`). Final: at
28 labelled images, mean ± s.d. over seeds.

| Strategy | AULC of mIoU | paired vs random | final mIoU | final pixel accuracy (%) |
| :--- | ---: | :--- | ---: | ---: |
{rows}

{verdicts}

The verdicts are those of `paired.md`: the 95% paired t interval of the AULC difference
over the 5 seeds, and whether it excludes 0. They are about the seed-to-seed noise of
this protocol only (one dataset, one network, one budget), not a general ranking of the
scores. BALD's AULC varies far more from seed to seed than random's or entropy's (the
s.d. column): on some seeds it does as well as entropy, on others worse than random;
5 seeds do not say why (`per_seed.md` has each seed).
"""
(d / "README.md").write_text(text)
print(text)
