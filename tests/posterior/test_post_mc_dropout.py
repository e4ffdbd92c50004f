"""MC dropout: fast path == general path == brute force, consistency, RNG, modes, errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from bayesal.errors import InvalidInputError
from bayesal.models import GalCNN, TwoMoonsMLP, build_model
from bayesal.posterior import MCDropoutDraw, MCDropoutPosterior, mc_dropout

ATOL = 1e-5


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def brute_force_sequential(model: nn.Sequential, draw: MCDropoutDraw, x: Tensor) -> Tensor:
    """[N, K, C]: for each k, walk the layers by hand, multiplying mask k at each dropout."""

    def leaves(module: nn.Module) -> list[nn.Module]:
        if type(module) is nn.Sequential or isinstance(module, (GalCNN, TwoMoonsMLP)):
            return [leaf for child in module for leaf in leaves(child)]
        return [module]

    layers = leaves(model)
    out = []
    with torch.no_grad():
        for k in range(draw.num_samples):
            h = x
            for layer in layers:
                if isinstance(layer, nn.modules.dropout._DropoutNd):
                    if layer.p > 0:
                        h = h * draw.mask(layer, h.shape[1:])[k]
                else:
                    was = layer.training
                    layer.eval()
                    h = layer(h)
                    layer.train(was)
            out.append(torch.log_softmax(h, dim=-1))
    return torch.stack(out, dim=1)


def both_paths(model: nn.Module, x: Tensor, k: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """(fast-path result, general-path result, brute force) for the same seed."""
    fast_draw = MCDropoutPosterior(model).draw(k, gen(seed))
    general_draw = MCDropoutPosterior(model, fast_path=False).draw(k, gen(seed))
    assert not general_draw.uses_fast_path
    fast = fast_draw.log_probs(x)
    general = general_draw.log_probs(x)
    brute = brute_force_sequential(model, fast_draw, x)
    return fast, general, brute


class Block(nn.Module):
    """A non-Sequential container with a dropout inside (exercises the hooks)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d, d)
        self.drop = nn.Dropout(0.3)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.drop(self.linear(x))) + x


def seeded(factory, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


# ---- equality of the three computations ------------------------------------------------


FOLDS = (
    "_fold_shared_complement",
    "_fold_shared_kept",
    "_fold_shared_dense",
    "_folded_linear_batched",
    "_apply_mask",
)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Names of the fast-path kernels that ran (each wrapped in a recording spy)."""
    used: set[str] = set()
    for name in FOLDS:
        original = getattr(mc_dropout, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            used.add(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(mc_dropout, name, spy)
    return used


# (K, p) -> the fold of the first dropout (shared input), with 64 inputs >= 50 outputs.
MLP_SHARED_FOLD = {
    (1, 0.1): "_fold_shared_dense",  # sparse forms would not save work at K = 1
    (1, 0.6): "_fold_shared_kept",
    (2, 0.1): "_fold_shared_complement",
    (2, 0.6): "_fold_shared_kept",
    (9, 0.1): "_fold_shared_complement",
    (9, 0.6): "_fold_shared_kept",
}


@pytest.mark.parametrize("n", [5, 64])  # 5 < 50 outputs: masks are applied, not folded
@pytest.mark.parametrize("dropout", [0.1, 0.6])
@pytest.mark.parametrize("k", [1, 2, 9])
def test_mlp_fast_equals_general_equals_brute_force(
    n: int, dropout: float, k: int, paths: set[str]
) -> None:
    model = build_model("two_moons_mlp", seed=0, dropout=dropout)
    x = torch.randn(n, 2, generator=gen(1))
    fast, general, brute = both_paths(model, x, k)
    draw = MCDropoutPosterior(model).draw(k, gen(0))
    assert draw.uses_fast_path
    draw.log_probs(x)
    paths.clear()  # the second call on a draw skips the one-input sizing probe
    torch.testing.assert_close(draw.log_probs(x), fast, atol=0, rtol=0)
    assert fast.shape == (n, k, 2)
    torch.testing.assert_close(fast, brute, atol=ATOL, rtol=0)
    torch.testing.assert_close(general, brute, atol=ATOL, rtol=0)
    if n == 64:
        assert paths == {MLP_SHARED_FOLD[k, dropout], "_folded_linear_batched"}
    else:
        assert paths == {"_apply_mask", "_folded_linear_batched"}  # last layer: 2 outputs


@pytest.mark.parametrize(("n", "k"), [(4, 1), (130, 5)])
def test_gal_cnn_fast_equals_general_equals_brute_force(n: int, k: int, paths: set[str]) -> None:
    model = build_model("gal_cnn", seed=0)
    x = torch.rand(n, 1, 28, 28, generator=gen(1))
    fast, general, brute = both_paths(model, x, k)
    draw = MCDropoutPosterior(model).draw(k, gen(0))
    draw.log_probs(x)
    paths.clear()
    torch.testing.assert_close(draw.log_probs(x), fast, atol=0, rtol=0)
    assert fast.shape == (n, k, 10)
    torch.testing.assert_close(fast, brute, atol=ATOL, rtol=0)
    torch.testing.assert_close(general, brute, atol=ATOL, rtol=0)
    if n == 130:  # dropout -> flatten -> dense 128 is folded (complement form, p = 0.25)
        assert paths == {"_fold_shared_complement", "_folded_linear_batched"}


def make_batchnorm_model() -> nn.Sequential:
    model = nn.Sequential(
        nn.Linear(6, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.4),
        nn.Linear(16, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(16, 3),
    )
    with torch.no_grad():  # running stats far from the batch stats, so train mode would show
        for bn in (model[1], model[5]):
            bn.running_mean.uniform_(-2, 2, generator=gen(5))
            bn.running_var.uniform_(0.5, 3, generator=gen(6))
    return model


def test_batchnorm_model_uses_running_stats_and_leaves_them_unchanged() -> None:
    model = seeded(make_batchnorm_model)
    model.train()  # the caller's mode: must not leak into scoring, must be restored
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    x = torch.randn(11, 6, generator=gen(2))
    fast, general, brute = both_paths(model, x, 4)
    torch.testing.assert_close(fast, brute, atol=ATOL, rtol=0)
    torch.testing.assert_close(general, brute, atol=ATOL, rtol=0)
    for name, b in model.named_buffers():
        assert torch.equal(b, buffers[name]), name
    assert all(m.training for m in model.modules())


def test_channelwise_dropout_and_non_linear_after_dropout() -> None:
    """Dropout2d masks whole channels; a Conv after a dropout gets materialised masks; a
    Dropout2d -> Flatten -> Linear is folded with the channel mask expanded."""
    model = seeded(
        lambda: nn.Sequential(
            nn.Conv2d(2, 4, 3),
            nn.ReLU(),
            nn.Dropout2d(0.5),
            nn.Conv2d(4, 3, 3),
            nn.Dropout2d(0.3),
            nn.Flatten(),
            nn.Linear(3 * 4 * 4, 5),
        )
    )
    x = torch.randn(7, 2, 8, 8, generator=gen(3))
    fast, general, brute = both_paths(model, x, 6)
    torch.testing.assert_close(fast, brute, atol=ATOL, rtol=0)
    torch.testing.assert_close(general, brute, atol=ATOL, rtol=0)
    draw = MCDropoutPosterior(model).draw(6, gen(0))
    keep = draw.keep_mask(model[2], (4, 6, 6))
    assert keep.shape == (6, 4, 1, 1)


def test_dropout_inside_a_container_in_the_head() -> None:
    model = seeded(
        lambda: nn.Sequential(
            nn.Linear(5, 8),
            nn.ReLU(),
            nn.Sequential(nn.Dropout(0.5), Block(8)),  # nested Sequential is flattened
            nn.Dropout(0.0),  # p = 0: ignored
            nn.Linear(8, 4),
        )
    )
    x = torch.randn(9, 5, generator=gen(4))
    k = 3
    draw = MCDropoutPosterior(model).draw(k, gen(0))
    assert draw.uses_fast_path
    brute = []
    block = model[2][1]
    with torch.no_grad():
        for i in range(k):
            h = torch.relu(model[0](x))
            h = h * draw.mask(model[2][0], (8,))[i]
            inner = block.linear(h) * draw.mask(block.drop, (8,))[i]
            h = torch.relu(inner) + h
            brute.append(torch.log_softmax(model[4](h), dim=-1))
    brute_t = torch.stack(brute, dim=1)
    torch.testing.assert_close(draw.log_probs(x), brute_t, atol=ATOL, rtol=0)
    general = MCDropoutPosterior(model, fast_path=False).draw(k, gen(0)).log_probs(x)
    torch.testing.assert_close(general, brute_t, atol=ATOL, rtol=0)


class Residual(nn.Module):
    """Not a Sequential: only the general path applies. BatchNorm2d + Dropout2d + Dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop2d = nn.Dropout2d(0.25)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop2d(torch.relu(self.bn(self.conv(x))))
        return self.fc(self.drop(h.flatten(1)))


def test_general_path_on_a_custom_module_matches_brute_force() -> None:
    model = seeded(Residual)
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1, generator=gen(8))
    x = torch.randn(6, 3, 5, 5, generator=gen(9))
    k = 4
    draw = MCDropoutPosterior(model).draw(k, gen(1))
    assert not draw.uses_fast_path
    brute = []
    model.eval()
    with torch.no_grad():
        for i in range(k):
            h = torch.relu(model.bn(model.conv(x))) * draw.mask(model.drop2d, (4, 5, 5))[i]
            h = h.flatten(1) * draw.mask(model.drop, (100,))[i]
            brute.append(torch.log_softmax(model.fc(h), dim=-1))
    torch.testing.assert_close(draw.log_probs(x), torch.stack(brute, 1), atol=ATOL, rtol=0)


# ---- consistency and chunking ----------------------------------------------------------


def test_same_masks_for_every_input_and_every_chunk() -> None:
    model = build_model("gal_cnn", seed=1)
    x = torch.rand(10, 1, 28, 28, generator=gen(0))
    x[7] = x[2]  # a repeated input gets exactly the same K outputs
    draw = MCDropoutPosterior(model).draw(6, gen(3))
    whole = draw.log_probs(x)
    torch.testing.assert_close(whole[7], whole[2], atol=1e-6, rtol=0)
    parts = torch.cat([draw.log_probs(x[:3]), draw.log_probs(x[3:4]), draw.log_probs(x[4:])])
    torch.testing.assert_close(parts, whole, atol=1e-6, rtol=0)
    # Posterior.log_probs shares one draw across its chunks.
    posterior = MCDropoutPosterior(model)
    chunked = posterior.log_probs(x, 6, gen(3), chunk_size=3)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=0)


def test_small_memory_budget_splits_inputs_and_samples_without_changing_results() -> None:
    model = build_model("two_moons_mlp", seed=0, hidden=500)
    x = torch.randn(12, 2, generator=gen(1))
    big = MCDropoutPosterior(model).draw(200, gen(2)).log_probs(x)
    small_draw = MCDropoutPosterior(model, memory_budget_bytes=2**20).draw(200, gen(2))
    small = small_draw.log_probs(x)
    plan = small_draw._chunk_plan(x)
    assert plan.samples_per_step < 200 and plan.inputs_per_step < 12
    torch.testing.assert_close(small, big, atol=1e-5, rtol=0)
    general = MCDropoutPosterior(model, memory_budget_bytes=2**20, fast_path=False)
    torch.testing.assert_close(general.draw(200, gen(2)).log_probs(x), big, atol=1e-5, rtol=0)


def test_trunk_runs_once_per_input() -> None:
    model = build_model("two_moons_mlp", seed=0)
    rows: list[int] = []
    model[0].register_forward_hook(lambda m, a, o: rows.append(a[0].shape[0]))
    x = torch.randn(31, 2, generator=gen(0))
    MCDropoutPosterior(model).draw(50, gen(0)).log_probs(x)
    assert sum(rows) == 31 + 1  # every input once, plus one probe input sizing the chunks
    rows.clear()
    MCDropoutPosterior(model, fast_path=False).draw(50, gen(0)).log_probs(x)
    assert sum(rows) == 50 * 31 + 1  # the general path repeats every input K times


# ---- randomness ------------------------------------------------------------------------


def test_seeded_draws_repeat_and_different_seeds_differ() -> None:
    model = build_model("two_moons_mlp", seed=0)
    x = torch.randn(20, 2, generator=gen(0))
    posterior = MCDropoutPosterior(model)
    a = posterior.log_probs(x, 8, gen(11))
    b = posterior.log_probs(x, 8, gen(11))
    c = posterior.log_probs(x, 8, gen(12))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # Two draws from one generator differ: the generator advances.
    g = gen(11)
    assert not torch.allclose(posterior.log_probs(x, 8, g), posterior.log_probs(x, 8, g))


def test_global_rng_state_untouched() -> None:
    model = build_model("gal_cnn", seed=0)
    x = torch.rand(3, 1, 28, 28, generator=gen(0))
    before = torch.get_rng_state()
    MCDropoutPosterior(model).log_probs(x, 4, gen(0))
    MCDropoutPosterior(model, fast_path=False).log_probs(x, 4, gen(0))
    assert torch.equal(torch.get_rng_state(), before)


def test_masks_have_the_dropout_rate_and_scale() -> None:
    model = build_model("gal_cnn", seed=0)
    draw = MCDropoutPosterior(model).draw(50, gen(0))
    keep = draw.keep_mask(model[5], (32, 11, 11))
    assert keep.shape == (50, 32, 11, 11)
    assert abs(keep.float().mean().item() - 0.75) < 0.01
    mask = draw.mask(model[5], (32, 11, 11))
    torch.testing.assert_close(mask.unique(), torch.tensor([0.0, 1 / 0.75]))
    # Samples differ from each other (not one mask repeated K times).
    assert not torch.equal(keep[0], keep[1])


# ---- modes, outputs, errors ------------------------------------------------------------


def test_model_modes_restored_and_no_grad() -> None:
    model = build_model("gal_cnn", seed=0)
    model.train()
    model[5].eval()  # a mixed state must come back exactly
    x = torch.rand(2, 1, 28, 28, generator=gen(0))
    out = MCDropoutPosterior(model).log_probs(x, 3, gen(0))
    assert model.training and not model[5].training and model[9].training
    assert not out.requires_grad
    model.eval()
    MCDropoutPosterior(model, fast_path=False).log_probs(x, 3, gen(0))
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("fast_path", [True, False])
def test_log_probs_normalised_and_k1_and_empty(fast_path: bool) -> None:
    model = build_model("two_moons_mlp", seed=3)
    posterior = MCDropoutPosterior(model, fast_path=fast_path)
    x = torch.randn(15, 2, generator=gen(0)) * 5
    out = posterior.log_probs(x, 1, gen(0))
    assert out.shape == (15, 1, 2)
    out = posterior.log_probs(x, 30, gen(0))
    torch.testing.assert_close(out.logsumexp(-1), torch.zeros(15, 30), atol=1e-5, rtol=0)
    assert (out <= 0).all()
    assert posterior.log_probs(x[:0], 4, gen(0)).shape == (0, 4, 2)


def test_model_without_dropout_raises() -> None:
    plain = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(InvalidInputError, match="at least one dropout layer"):
        MCDropoutPosterior(plain)
    with pytest.raises(InvalidInputError, match="ensemble"):
        MCDropoutPosterior(build_model("two_moons_mlp", seed=0, dropout=0.0))


def test_alpha_dropout_refused() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.AlphaDropout(0.2), nn.Linear(4, 2))
    with pytest.raises(InvalidInputError, match="AlphaDropout"):
        MCDropoutPosterior(model)


def test_bad_arguments_raise() -> None:
    model = build_model("two_moons_mlp", seed=0)
    posterior = MCDropoutPosterior(model)
    with pytest.raises(InvalidInputError, match="num_samples"):
        posterior.draw(0, gen(0))
    with pytest.raises(InvalidInputError, match="generator"):
        posterior.draw(3, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="torch.Tensor"):
        posterior.draw(3, gen(0)).log_probs([[0.0, 1.0]])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="chunk_size"):
        posterior.log_probs(torch.zeros(2, 2), 3, gen(0), chunk_size=0)
    with pytest.raises(InvalidInputError, match="memory_budget_bytes"):
        MCDropoutPosterior(model, memory_budget_bytes=10)
    with pytest.raises(InvalidInputError, match="nn.Module"):
        MCDropoutPosterior("model")  # type: ignore[arg-type]


def test_model_that_does_not_return_logits_raises() -> None:
    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 3)
            self.drop = nn.Dropout(0.5)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc(self.drop(x)).unsqueeze(-1)

    with pytest.raises(InvalidInputError, match="logits"):
        MCDropoutPosterior(Bad()).log_probs(torch.zeros(4, 2), 2, gen(0))
