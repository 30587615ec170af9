"""Test helper: BG/NBD and Gamma-Gamma maximum likelihood written out from the papers.

A reference for the CLV tests that shares no code with nexus_pipelines/lib/analytics/clv.py:

* BG/NBD -- Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way", eq. (6), in
  the paper's own form with the two beta functions:

      L(r, alpha, a, b | x, t_x, T) = B(a, b + x) / B(a, b) * Gamma(r + x) alpha^r / (Gamma(r) (alpha + T)^(r + x))
          + [x > 0] * B(a + 1, b + x - 1) / B(a, b) * Gamma(r + x) alpha^r / (Gamma(r) (alpha + t_x)^(r + x))

* Gamma-Gamma -- Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": given x
  repeat transactions, z_i ~ Gamma(p, nu) i.i.d. and nu ~ Gamma(q, gamma). The total x * m of
  the x spends is Gamma(p x, nu), so mixing over nu makes it a beta-prime (compound gamma)
  variable with shapes (p x, q) and scale gamma; the density of the mean m is that density at
  x * m times the Jacobian x. Evaluated with ``scipy.stats.betaprime``.

Both are maximised with ``scipy.optimize.minimize`` (Nelder-Mead over log-parameters, restarted
from its own optimum until the log-likelihood stops improving).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats


def bgnbd_total_log_likelihood(params, x, t_x, T) -> float:
    """sum over customers of log L(r, alpha, a, b | x, t_x, T), FHL 2005 eq. (6)."""
    r, alpha, a, b = (float(v) for v in params)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    # log of Gamma(r + x) alpha^r / (Gamma(r) B(a, b)), common to both terms
    common = special.gammaln(r + x) + r * np.log(alpha) - special.gammaln(r) - special.betaln(a, b)
    still_alive = special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    # B(a + 1, b + x - 1) needs b + x - 1 > 0: only evaluated where x >= 1
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = special.betaln(a + 1, b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    return float(np.sum(common + np.logaddexp(still_alive, dropped)))


def gamma_gamma_total_log_likelihood(params, x, m) -> float:
    """sum over repeat customers of log f(m | p, q, gamma, x), FH 2013, via the beta-prime law."""
    p, q, gamma = (float(v) for v in params)
    x, m = (np.asarray(v, dtype=float) for v in (x, m))
    return float(np.sum(stats.betaprime.logpdf(x * m, p * x, q, scale=gamma) + np.log(x)))


def maximise(log_likelihood, starts) -> tuple[np.ndarray, float]:
    """Parameters (natural units) maximising ``log_likelihood(params)`` over all ``starts``, and the maximum.

    From each start, Nelder-Mead over log-parameters is restarted at its own optimum until the
    log-likelihood stops improving (a simplex can stall on a flat ridge); the best end point wins.
    """

    def negative(log_params: np.ndarray) -> float:
        value = log_likelihood(np.exp(log_params))
        return -value if np.isfinite(value) else np.inf

    options = {"xatol": 1e-10, "fatol": 1e-10, "maxiter": 50_000, "maxfev": 50_000}
    best_point, best = None, np.inf
    for start in starts:
        point, value = np.log(np.asarray(start, dtype=float)), np.inf
        for _ in range(20):
            with np.errstate(all="ignore"):
                result = optimize.minimize(negative, point, method="Nelder-Mead", options=options)
            improved = value - result.fun
            point, value = result.x, min(value, result.fun)
            if improved < 1e-9:
                break
        if value < best:
            best_point, best = point, value
    return np.exp(best_point), -best


def simulated_orders(
    seed: int,
    customers: int,
    days: int,
    bgnbd: tuple[float, float, float, float],
    gamma_gamma: tuple[float, float, float],
) -> list[tuple[str, int, float]]:
    """(customer, day, revenue) orders drawn from the BG/NBD and Gamma-Gamma models themselves.

    Each customer's first order falls on a random day of the first quarter of the period; then,
    with lambda ~ Gamma(r, rate alpha) per day and p ~ Beta(a, b), orders follow a Poisson
    process of rate lambda and the customer drops out after each repeat order with probability p.
    Spend per order z ~ Gamma(p, rate nu) with nu ~ Gamma(q, rate gamma), rounded to cents.
    """
    r, alpha, a, b = bgnbd
    p, q, gamma = gamma_gamma
    rng = np.random.default_rng(seed)
    orders = []
    for customer in range(customers):
        rate, dropout, nu = rng.gamma(r, 1 / alpha), rng.beta(a, b), rng.gamma(q, 1 / gamma)
        t = float(rng.integers(0, days // 4))
        orders.append((f"c{customer:05d}", int(t), round(float(rng.gamma(p, 1 / nu)), 2)))
        while (t := t + rng.exponential(1 / rate)) < days:
            orders.append((f"c{customer:05d}", int(t), round(float(rng.gamma(p, 1 / nu)), 2)))
            if rng.random() < dropout:
                break
    return orders
