"""Searching the weight simplex for the weights an objective likes best: a lattice walk,
a small genetic algorithm and Bayesian optimization (bayes_opt, imported when used).
Each search calls ``evaluate`` (which maps any non-negative vector onto the simplex and
remembers what it saw) on at most ``budget`` weight sets besides the start, which the
caller has already evaluated, and returns how many; each is deterministic for a seed."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

_POPULATION = 20
_N_RANDOM = 2_000  # acquisition candidates per Bayesian step
_RETUNE_EVERY = 10  # Bayesian steps between GP kernel tunings

Array = npt.NDArray[np.float64]
Objective = Callable[[Array], float]


def grid_search(evaluate: Objective, start: Array, budget: int, seed: int) -> int:
    """Every point of a simplex lattice (step 0.1 for up to 4 metrics, else 0.2), or the
    vertices and a seeded subset of the rest when there are more than ``budget``."""
    k = start.shape[0]
    steps = 10 if k <= 4 else 5
    # stars and bars: k - 1 bar positions among steps + k - 1 slots give one lattice point
    bars = np.array(list(itertools.combinations(range(steps + k - 1), k - 1)), dtype=np.int64)
    edges = np.hstack([np.full((len(bars), 1), -1), bars.reshape(len(bars), k - 1)])
    edges = np.hstack([edges, np.full((len(bars), 1), steps + k - 1)])
    points = (np.diff(edges, axis=1) - 1).astype(np.float64) / steps
    if len(points) > budget:
        vertex = points.max(axis=1) == 1.0
        rng = np.random.default_rng(seed)
        others = np.flatnonzero(~vertex)
        chosen = rng.choice(others, size=max(0, budget - int(vertex.sum())), replace=False)
        points = points[np.sort(np.concatenate([np.flatnonzero(vertex), chosen]))][:budget]
    for point in points:
        evaluate(point)
    return len(points)


def project(vector: Array) -> Array:
    """Euclidean projection onto the probability simplex (Duchi et al. 2008)."""
    ordered = np.sort(vector)[::-1]
    cumulative = np.cumsum(ordered) - 1.0
    index = np.arange(1, vector.shape[0] + 1)
    rho = int(np.flatnonzero(ordered - cumulative / index > 0)[-1])
    projected: Array = np.maximum(vector - cumulative[rho] / (rho + 1), 0.0)
    return projected


def genetic_search(evaluate: Objective, start: Array, budget: int, seed: int) -> int:
    """Tournament selection (3), blend crossover (BLX-0.25), Gaussian mutation, projection
    onto the simplex and elitism (2) over a population of up to 20."""
    rng = np.random.default_rng(seed)
    k = start.shape[0]
    size = min(_POPULATION, budget)
    population = [start, *rng.dirichlet(np.ones(k), size - 1)] if size > 1 else [start]
    fitness = [evaluate(p) for p in population]
    used = size - 1  # the start was already counted by the caller
    while used < budget:
        order = np.argsort(fitness)[::-1]
        nxt = [population[i] for i in order[:2]]
        nxt_fit = [fitness[i] for i in order[:2]]
        while len(nxt) < size and used < budget:
            parents = []
            for _ in range(2):
                entrants = rng.choice(len(population), size=min(3, len(population)))
                parents.append(population[max(entrants, key=lambda i: fitness[i])])
            blend = rng.uniform(-0.25, 1.25, k)
            child = parents[0] + blend * (parents[1] - parents[0])
            child = child + rng.normal(0.0, 0.05, k) * (rng.random(k) < max(0.3, 1.0 / k))
            child = project(child)
            nxt.append(child)
            nxt_fit.append(evaluate(child))
            used += 1
        population, fitness = nxt, nxt_fit
    return used


def bayesian_search(evaluate: Objective, start: Array, budget: int, seed: int) -> int:
    """bayes_opt's GP-UCB over [0, 1]^k (``evaluate`` normalizes onto the simplex). The
    defaults cost ~0.5 s a step at 200 points, so the acquisition is maximized over random
    candidates only and the GP kernel is tuned (one start) every 10th step."""
    import warnings

    from bayes_opt import BayesianOptimization, acquisition

    class _Ucb(acquisition.UpperConfidenceBound):  # type: ignore[misc]
        def suggest(self, gp: Any, target_space: Any, **kwargs: Any) -> Any:
            gp.optimizer = "fmin_l_bfgs_b" if self.i % _RETUNE_EVERY == 0 else None
            kwargs.update(gp=gp, target_space=target_space, n_random=_N_RANDOM, n_smart=0)
            point = super().suggest(**kwargs)
            gp.kernel = gp.kernel_  # the next fits start from (or keep) the tuned kernel
            return point

    k = start.shape[0]
    names = [f"w{i:03d}" for i in range(k)]  # zero-padded: sorted order == metric order
    calls = 0

    def objective(**params: float) -> float:
        nonlocal calls
        calls += 1
        return evaluate(np.array([params[n] for n in names], dtype=np.float64))

    search = BayesianOptimization(
        f=objective,
        pbounds=dict.fromkeys(names, (0.0, 1.0)),
        acquisition_function=_Ucb(kappa=2.576),
        random_state=seed,
        verbose=0,
        allow_duplicate_points=True,
    )
    search.set_gp_params(n_restarts_optimizer=0)
    init_points = max(1, min(10, budget // 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.probe(params=dict(zip(names, start.tolist(), strict=True)), lazy=True)
        search.maximize(init_points=init_points, n_iter=max(0, budget - init_points))
    return calls - 1  # the re-probed start was already counted by the caller
