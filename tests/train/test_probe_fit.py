"""The L-BFGS linear probe: its head is scikit-learn's L2 logistic regression on the standardised frozen features."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
linear_model = pytest.importorskip("sklearn.linear_model")

from fastmed.train.engine.loop import LoopState  # noqa: E402
from fastmed.train.engine.probe_fit import fit_linear_probe  # noqa: E402
from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.heads import full_finetune, linear_probe  # noqa: E402
from fastmed.train.models.vit import ViTEncoder  # noqa: E402

from ._data import blob_images  # noqa: E402


def _batches(n_batches: int, size: tuple[int, ...]) -> list[dict[str, torch.Tensor]]:
    x = torch.from_numpy(blob_images(8 * n_batches, size, seed=10))
    peak = x.amax(dim=(1, 2, 3))
    y = (peak > peak.median()).float()[:, None]  # the brighter half (overlapping blobs): not linear in the features
    return [{"image": x[8 * b : 8 * b + 8], "labels": y[8 * b : 8 * b + 8]} for b in range(n_batches)]


@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_head_matches_sklearn_logistic_regression(l2: float) -> None:
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    model = linear_probe(ViTEncoder(cfg), n_labels=1, pool="max", blocks=1)
    batches = _batches(4, cfg.img_size)
    st = fit_linear_probe(model, iter(batches), steps=4, l2=l2, iters=500)
    assert st.step == 4 and st.samples == 32 and st.micro_batches == 4 and st.losses[-1] < st.losses[0]
    with torch.no_grad():
        x = torch.cat([model.features(b["image"]) for b in batches]).double().numpy()
    y = torch.cat([b["labels"] for b in batches]).numpy()[:, 0]
    assert 0 < y.sum() < len(y)
    xs = (x - x.mean(0)) / np.sqrt(x.var(0) + model.feature_norm.eps)  # type: ignore[union-attr]
    # sklearn minimises C * sum(loss) + |w|^2 / 2, i.e. mean(loss) + |w|^2 / (2 C n): C = 1 / (l2 n)
    ref = linear_model.LogisticRegression(C=1.0 / (l2 * len(y)), tol=1e-10, max_iter=10000).fit(xs, y)
    np.testing.assert_allclose(model.head.weight.detach().numpy()[0], ref.coef_[0], rtol=0, atol=5e-3)  # float32 fit
    assert float(model.head.bias.detach()[0]) == pytest.approx(float(ref.intercept_[0]), abs=5e-3)
    # the fitted model predicts from images as the fitted regression does from features (BatchNorm = scaler)
    model.eval()
    with torch.no_grad():
        probs = torch.sigmoid(torch.cat([model(b["image"]) for b in batches])).numpy()[:, 0]
    np.testing.assert_allclose(probs, ref.predict_proba(xs)[:, 1], rtol=0, atol=1e-3)


def test_a_finished_fit_is_kept_and_only_probes_are_fitted() -> None:
    cfg = get_config("vit2d_tiny")
    model = linear_probe(ViTEncoder(cfg), n_labels=1)
    done = LoopState(step=3, losses=[0.5])
    assert fit_linear_probe(model, iter([]), steps=3, state=done) is done  # no batch drawn
    with pytest.raises(ValueError, match="linear probe"):
        fit_linear_probe(full_finetune(ViTEncoder(cfg), n_labels=1), iter([]), steps=1)
    with pytest.raises(ValueError, match="l2"):
        fit_linear_probe(model, iter([]), steps=1, l2=-1.0)
