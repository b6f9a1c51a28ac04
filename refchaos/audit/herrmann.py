"""Audit checks of Herrmann et al. 2022: tangent maps, Lyapunov exponents, CGD, Sec. 4.2, A.8.

Each check registers itself with :func:`refchaos.audit.core.check`; see :mod:`refchaos.audit`.
"""


from __future__ import annotations

import math

import numpy as np

from .. import lyapunov as ly
from ..backend import asarray, host_rng, to_float, to_host
from ..curvature import spectrum as hessian_spectrum
from ..lyapunov.local import local_exponents
from ..nn.builders import mlp
from ..optim import CGD, SGD, ZERO_TOL, classify
from .core import (FIRST_ORDER_SLOPE_TOL, MC_SIGMAS, PAPER_A8, PAPER_A8_DIGITS, U,
                   Outcome, _host, _linear_mse, _maxabs, _norm, _random_symmetric, _rel, _relu_mlp,
                   _fd_state_jacobian, _sgd_run, _tanh_mlp, _to, check, fd_tolerance, rtol)

# ===== H22: tangent maps and Lyapunov exponents ==============================================
@check("H22-1", "Eq. (1): Y(T) = d theta(T)/d theta(0) of SGD vs central differences of T steps")
def _h22_1(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr, T, N = 0.5, 3, model.num_params
    opt = SGD(lr=lr)
    run = ly.tangent_matrix(opt, model, theta, lambda t: (x, y), T)
    Y_fd, scale = _fd_state_jacobian(xp, opt, model, theta, x, y, T)
    return Outcome(_maxabs(xp, run.Y - Y_fd), fd_tolerance(scale),
                   f"N={N}, T={T}, lr={lr}, max entry error of Y")


@check("H22-2", "Eq. (2): Y(t) = J(t) Y(t-1): tangent_matrix equals the product of I - lr H(t)")
def _h22_2(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr, T, N = 0.5, 4, model.num_params
    opt = SGD(lr=lr)
    run = ly.tangent_matrix(opt, model, theta, lambda t: (x, y), T)
    Y = xp.eye(N, dtype=xp.float64)
    state = opt.init(theta)
    for _ in range(T):
        H = model.hessian(theta, x, y)
        Y = (xp.eye(N, dtype=xp.float64) - lr * H) @ Y
        theta, state, _ = opt.step(model, theta, state, x, y)
    return Outcome(_rel(xp, run.Y, Y), rtol(T * 2 * N), f"N={N}, T={T}, normwise")


@check("H22-3", "Eq. (3): Lambda(t) = 1/(2t) ln(Y^T Y) of Y = A^t, A symmetric: ln|a_i|, V")
def _h22_3(xp):
    a = np.array([1.3, -1.1, 0.9, 0.6])
    t = 10
    A, V = _random_symmetric(xp, a, seed=1)
    Y = xp.eye(4, dtype=xp.float64)
    for _ in range(t):
        Y = A @ Y
    exps, W = ly.lyapunov_matrix(Y, t)
    lam_exact = np.log(np.abs(a))
    Lam = W @ (exps[:, None] * xp.matrix_transpose(W))  # W diag(exponents) W^T
    Lam_exact = _to(xp, V @ np.diag(lam_exact) @ V.T)
    cond = (np.abs(a).max() / np.abs(a).min()) ** t  # sigma_max / sigma_min of Y
    gap = np.min(np.diff(np.sort(lam_exact)))
    tol = rtol(4 * t) * cond / (t * gap)  # sigma_min's relative error over t, over the gap
    res = max(float(np.max(np.abs(_host(exps) - np.sort(lam_exact)[::-1]))), _rel(xp, Lam, Lam_exact))
    return Outcome(res, tol, "exponents and the matrix W diag W^T vs V diag(ln|a|) V^T")


@check("H22-4", "Eq. (4): max exponent of one tangent vector, GD on a quadratic, exact at finite T")
def _h22_4(xp):
    # J = I - lr H is constant and symmetric, so after T renormalised steps the running exponent
    # is exactly (1/2T) ln sum_i c_i^2 mu_i^(2T), c = V^T w0, mu_i = 1 - lr a_i; its limit is
    # ln max|mu_i| with the exact bound ln|c_1| / T on the finite-T shortfall.
    model, theta, x, t_, H = _linear_mse(xp)
    a, V = np.linalg.eigh(H)
    lr, T, N = 2.2 / a.max(), 100, model.num_params
    w0 = host_rng(5).standard_normal(N)
    w0 /= np.linalg.norm(w0)
    run = ly.max_exponent(SGD(lr=lr), model, theta, lambda t: (x, t_), T, w0=_to(xp, w0))
    mu = np.abs(1 - lr * a)
    logs = 2 * np.log(np.abs(V.T @ w0)) + 2 * T * np.log(mu)
    m = logs.max()
    exact = (m + math.log(np.sum(np.exp(logs - m)))) / (2 * T)
    # Each ln r(t) carries the relative rounding of an HVP (N + B terms); so does their mean.
    return Outcome(abs(run.exponent - exact), rtol(N + x.shape[0]),
                   f"limit ln max|1 - lr a| = {math.log(mu.max()):.6f}, finite-T {exact:.6f}")


@check("H22-4-theta", "Eq. (4) for a perturbation of theta(0): theta-block exponent of momentum GD on a quadratic, exact at finite T")
def _h22_4_theta(xp):
    # Heavy-ball momentum (PyTorch's buffer) on the quadratic has the constant state map
    # M(a) = [[1 - lr a, -lr mu], [a, mu]] per eigenpair (a, v) of H, so a start
    # w(0) = (dtheta(0), 0) gives dtheta(T) = V diag(m(a_i)) V^T dtheta(0), m(a) = [M(a)^T]_00:
    # lambda_theta = (1/T) ln(||diag(m) c|| / ||c||), c = V^T dtheta(0), exactly.
    model, theta, x, t_, H = _linear_mse(xp)
    a, V = np.linalg.eigh(H)
    # lr a_max = 3.6 > 2 (1 + mu): M(a_max) has the real eigenvalue -1.83, the top direction expands
    lr, mu, T, N, seed = 3.6 / a.max(), 0.5, 60, model.num_params, 4
    run = ly.max_exponent(SGD(lr=lr, momentum=mu), model, theta, lambda t: (x, t_), T,
                          seed=seed, start="theta", record_every=None)
    c = V.T @ host_rng(seed).standard_normal(N)  # the theta rows of start="theta"
    m = np.array([np.linalg.matrix_power(np.array([[1 - lr * ai, -lr * mu], [ai, mu]]), T)[0, 0]
                  for ai in a])
    exact = math.log(np.linalg.norm(m * c) / np.linalg.norm(c)) / T
    # ln ||w_theta(T)|| carries the relative rounding of w(T), at most T steps of an HVP of
    # N + B terms each; divided by T it is one step's, as the sum of the ln r(t) in H22-4.
    return Outcome(abs(run.theta_exponent - exact), rtol(N + x.shape[0]),
                   f"finite-T {exact:.6f}, whole-state exponent of the same vector "
                   f"{run.exponent:.6f}")


@check("H22-5", "Eq. (5): e^(lam_N t) eps <= |d theta(t)| <= e^(lam_1 t) eps, equality on v_1, v_N")
def _h22_5(xp):
    a = np.array([1.08, 0.97, -0.9, 0.8, 0.6])
    A, V = _random_symmetric(xp, a, seed=2)
    steps, eps = 40, 0.1
    lam = np.log(np.abs(a))
    rng = host_rng(7)
    dirs = {f"random{i}": rng.standard_normal(5) for i in range(4)}
    dirs["top"], dirs["bottom"] = V[:, np.argmax(lam)], V[:, np.argmin(lam)]
    perts = {k: _to(xp, eps * v / np.linalg.norm(v)) for k, v in dirs.items()}
    theta0 = _to(xp, rng.uniform(-1, 1, 5))
    curves = ly.distance_curves(lambda th, t: A @ th, theta0, perts, steps)
    tt = np.arange(steps + 1)
    lower, upper = ly.distance_bounds(_to(xp, lam), tt, eps)
    viol = max(float(np.max(np.maximum(np.maximum(lower - d, d - upper), 0.0))) for d in curves.values())
    tight = max(float(np.max(np.abs(curves["top"] - upper))),
                float(np.max(np.abs(curves["bottom"] - lower))))
    # d(t) is the difference of two orbits of norm <= M = |theta0| max|a|^steps (+ eps): each of
    # the steps rounds an n-term product, so d carries an absolute error <= steps n u M.
    M = (float(np.linalg.norm(_host(theta0))) + eps) * float(np.abs(a).max()) ** steps
    tol = rtol(5 * steps) * M
    return Outcome(max(viol, tight), tol, "absolute: max(bound violation, |d - bound| on v_1 and v_N)")


@check("H22-6", "Eq. (6): theta'(t) - theta(t) - Y(t) eps w = O(eps^2) (first-order error order)")
def _h22_6(xp):
    model, theta, x, y = _tanh_mlp(xp)
    opt, T = SGD(lr=0.5), 3
    Y = ly.tangent_matrix(opt, model, theta, lambda t: (x, y), T).Y
    w = host_rng(3).standard_normal(model.num_params)
    w = _to(xp, w / np.linalg.norm(w))
    base, _ = _sgd_run(opt, model, theta, x, y, T)
    errs = []
    for eps in (1e-3, 5e-4):
        pert, _ = _sgd_run(opt, model, theta + eps * w, x, y, T)
        errs.append(_norm(xp, pert - base - eps * (Y @ w)) / (eps * _norm(xp, Y @ w)))
    order = math.log2(errs[0] / errs[1])
    return Outcome(abs(order - 1.0), FIRST_ORDER_SLOPE_TOL,
                   f"relative error {errs[0]:.2e} at eps=1e-3; observed order {order:.3f} (expect 1)")


@check("H22-7", "Eq. (7): SGD.step is theta - lr g with g by backprop, over 5 steps")
def _h22_7(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr = 0.3
    got, _ = _sgd_run(SGD(lr=lr), model, theta, x, y, 5)
    ref = theta
    for _ in range(5):
        ref = ref - lr * model.grad(ref, x, y)
    return Outcome(_rel(xp, got, ref), rtol(2), "normwise; same operations, so ~0")


@check("H22-8", "Eq. (8): theta-block of the momentum tangent = Y - lr sum beta^(t-s) H(s) Y(s)")
def _h22_8(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr, mu, T, N = 0.3, 0.8, 4, model.num_params
    opt = SGD(lr=lr, momentum=mu)
    run = ly.tangent_matrix(opt, model, theta, lambda t: (x, y), T)
    eye = xp.eye(N, dtype=xp.float64)
    Ys, HYs, state, th = [eye], [], opt.init(theta), theta
    for t in range(T):
        HYs.append(model.hessian(th, x, y) @ Ys[-1])
        acc = sum(mu ** (t - s) * HYs[s] for s in range(t + 1))
        Ys.append(Ys[-1] - lr * acc)  # Eq. (8)
        th, state, _ = opt.step(model, th, state, x, y)
    return Outcome(_rel(xp, run.Y_theta, Ys[-1]), rtol(T * T * 2 * N), f"N={N}, T={T}, beta={mu}")


@check("MOM-2N", "Momentum SGD tangent on (theta, v) (2N) vs central differences of T PyTorch steps")
def _mom_2n(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr, mu, wd, T, N = 0.3, 0.8, 0.01, 3, model.num_params
    opt = SGD(lr=lr, momentum=mu, weight_decay=wd)
    run = ly.tangent_matrix(opt, model, theta, lambda t: (x, y), T)
    Y_fd, scale = _fd_state_jacobian(xp, opt, model, theta, x, y, T, buffers=("v",))
    # Y_fd (2N, N): d(theta, v)(T) / d theta(0) with v(0) = 0
    return Outcome(_maxabs(xp, run.Y[:, :N] - Y_fd), fd_tolerance(scale),
                   f"N={N}, T={T}, beta={mu}, weight decay {wd}")


@check("H22-9", "Eq. (9): local exponents ln|1 - lr lam| = eigenvalues of 1/2 ln (I - lr H)^2")
def _h22_9(xp):
    lr = 0.5
    lam = np.array([-1.2, -0.3, 0.1, 0.9, 1.5, 2.9, 3.5, 4.2, 6.0])  # all regions, |1 - lr lam| >= 0.25
    H, _ = _random_symmetric(xp, lam, seed=3)
    n = lam.shape[0]
    M = xp.eye(n, dtype=xp.float64) - lr * H
    m = xp.linalg.eigvalsh(M @ M)
    direct = np.sort(0.5 * np.log(_host(m)))
    got = np.sort(_host(local_exponents(xp.linalg.eigvalsh(H), lr)))
    mh = _host(m)
    tol = rtol(n) * mh.max() / mh.min()  # eigvalsh abs error ~ n u ||M^2||, relative to m_min
    return Outcome(float(np.max(np.abs(got - direct))), tol, "sorted, max abs difference")


@check("H22-10", "Eq. (10): chaotic iff lam < 0 or lam > 2/lr; boundaries 0 and 2/lr not chaotic")
def _h22_10(xp):
    lr = 0.5  # 2/lr = 4 exactly
    lam_h = np.array([-2.0, -1e-3, 1e-14, 0.0, 1.0, 3.999, 4.0, 4.001, 9.0])
    masks = classify(_to(xp, lam_h), lr)
    expect_chaotic = np.array([1, 1, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
    expect_zero = np.array([0, 0, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    bad = int(np.sum(np.asarray(to_host(masks["chaotic"])) != expect_chaotic)
              + np.sum(np.asarray(to_host(masks["zero"])) != expect_zero))
    return Outcome(float(bad), 0.0, "mismatched classifications (count)")


@check("H22-T2.1", "Theorem 2.1: chaotic mask = positive local exponent, random symmetric H")
def _h22_t21(xp):
    lr = 0.25
    rng = host_rng(11)
    lam = rng.uniform(-3.0, 12.0, 40)  # spans lam < 0, 0 < lam < 8 = 2/lr and lam > 8
    H, _ = _random_symmetric(xp, lam, seed=4)
    ev = xp.linalg.eigvalsh(H)
    masks = classify(ev, lr)
    pos = np.asarray(to_host(local_exponents(ev, lr))) > 0
    nz = ~np.asarray(to_host(masks["zero"]))
    bad = int(np.sum((np.asarray(to_host(masks["chaotic"])) != pos) & nz))
    n_ch = int(np.sum(np.asarray(to_host(masks["chaotic"]))))
    return Outcome(float(bad), 0.0, f"mismatches among 40 eigenvalues ({n_ch} chaotic)",
                   ((0 < n_ch < 40, "the case must contain chaotic and non-chaotic directions"),))


@check("ZERO-TOL", "Zero-eigenvalue tolerance: the certain null space of a ReLU MLP Hessian is zero")
def _zero_tol(xp):
    # ReLU MLP D-H-C at batch B: rank(H) <= r = B (C - 1) + 2 (C H + C), so the (r+1)-th largest
    # |lambda| is rounding noise; it must fall below ZERO_TOL max|lambda| and be classified zero.
    D, Hd, C, B = 12, 4, 3, 2
    model, theta, x, y = _relu_mlp(xp, D=D, Hd=Hd, C=C, B=B)
    lam, _ = hessian_spectrum(model, theta, x, y, method="dense")
    r = B * (C - 1) + 2 * (C * Hd + C)
    mags = np.sort(np.abs(_host(lam)))[::-1]
    noise = mags[r] / mags[0]
    n_zero = int(np.sum(np.asarray(to_host(classify(lam, 0.1)["zero"]))))
    N = model.num_params
    return Outcome(float(noise), ZERO_TOL, f"N={N}, rank bound {r}, {n_zero} classified zero",
                   ((n_zero >= N - r, f"at least N - r = {N - r} zero eigenvalues"),))


@check("H22-11", "Eq. (11): CGD projection P g = V_K V_K^T g, idempotent, no pruned component")
def _h22_11(xp):
    lr = 0.5
    lam = np.array([-1.0, -0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0])
    H, _ = _random_symmetric(xp, lam, seed=5)
    ev, V = xp.linalg.eigh(H)
    pr = CGD(lr=lr, prune="chaotic").select_pruned(ev, V, step=0)
    g = _to(xp, host_rng(2).standard_normal(8))
    Pg = pr.project(g)
    kept = np.flatnonzero(~np.asarray(to_host(classify(ev, lr)["chaotic"])))
    VK = xp.take(V, asarray(kept, xp), axis=1)
    ref = VK @ (xp.matrix_transpose(VK) @ g)
    res = max(_rel(xp, Pg, ref), _rel(xp, pr.project(Pg), Pg),
              _norm(xp, xp.matrix_transpose(pr.basis) @ Pg) / _norm(xp, g))
    return Outcome(res, rtol(8 * 8), f"{pr.n_pruned} of 8 directions pruned")


@check("H22-12", "Eq. (12): CGD step theta - lr P g and tangent (I - lr P H) Y (not I - lr V V^T)")
def _h22_12(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr, N = 2.0, model.num_params
    opt = CGD(lr=lr, prune="chaotic")
    Y0 = xp.eye(N, dtype=xp.float64)
    th1, _, Y1, info = ly.tangent_step(opt, model, theta, opt.init(theta), x, y, Y0)
    H = model.hessian(theta, x, y)
    g = model.grad(theta, x, y)
    lam, V = hessian_spectrum(model, theta, x, y)
    S = np.flatnonzero(np.asarray(to_host(classify(lam, lr)["chaotic"])))
    VS = xp.take(V, asarray(S, xp), axis=1)
    P = Y0 - VS @ xp.matrix_transpose(VS)
    res = max(_rel(xp, Y1, Y0 - lr * (P @ H)), _rel(xp, th1, theta - lr * (P @ g)))
    return Outcome(res, rtol(4 * N), f"N={N}, {info['n_pruned']} chaotic directions pruned",
                   ((info["n_pruned"] > 0, "the case must prune something"),))


@check("H22-T2.2", "Theorem 2.2: |eig(I - lr P H)| <= 1 after pruning the chaotic set")
def _h22_t22(xp):
    lr = 0.25
    lam = host_rng(17).uniform(-3.0, 12.0, 12)
    H, _ = _random_symmetric(xp, lam, seed=6)
    ev, V = xp.linalg.eigh(H)
    pr = CGD(lr=lr, prune="chaotic").select_pruned(ev, V, step=0)
    eye = xp.eye(12, dtype=xp.float64)
    M = eye - lr * pr.project(H)  # I - lr P H; P H = V_K diag V_K^T is symmetric
    rho = float(np.max(np.abs(_host(xp.linalg.eigvalsh(0.5 * (M + xp.matrix_transpose(M)))))))
    rho_sgd = float(np.max(np.abs(1 - lr * lam)))
    return Outcome(max(rho - 1.0, 0.0), rtol(12) * _maxabs(xp, M) * 12,
                   f"spectral radius {rho:.6f} (SGD: {rho_sgd:.3f})",
                   ((rho_sgd > 1, "the unpruned map must be chaotic"),))


@check("H22-S4.2", "Sec. 4.2 directions: |d theta| = eps, in their eigenspaces; chaotic = lam > 0, non-chaotic lam < 0")
def _h22_s42(xp):
    N, eps = 8, 0.1
    V, _ = np.linalg.qr(host_rng(19).standard_normal((N, N)))
    lam = np.array([0.3, -0.1, 0.05, -0.4, 0.0, 0.2, -0.02, 0.1])
    dirs = ly.perturbation_directions(_to(xp, lam), _to(xp, V), eps=eps, seed=1)
    res = max(abs(_norm(xp, d) / eps - 1) for d in dirs.values())
    Vx = _to(xp, V)
    for name, mask in (("chaotic", lam > 0), ("nonchaotic", lam < 0)):  # lam = 0: neither
        Vc = _to(xp, V[:, ~mask])  # the complement must carry nothing
        res = max(res, _norm(xp, xp.matrix_transpose(Vc) @ dirs[name]) / eps)
    res = max(res, abs(abs(to_float(xp.sum(dirs["top"] * Vx[:, 0]))) / eps - 1),
              abs(abs(to_float(xp.sum(dirs["bottom"] * Vx[:, 3]))) / eps - 1))
    return Outcome(res, rtol(N * N), "norms, subspace leakage, top/bottom alignment")


@check("H22-S4.2-subspaces", "Sec. 4.2 V_chaotic(t), V_non-chaotic(t) of Y = A^t, A symmetric: exact subspaces, overlap 1 between times")
def _h22_s42_subspaces(xp):
    # Y(t) = A^t = V diag(a^t) V^T: sigma_i = |a_i|^t, right singular vectors v_i, so
    # V_chaotic(t) = span{v_i : |a_i| > 1} at every t and the overlap of two times is 1.
    a = np.array([1.3, -1.2, 1.05, 0.9, -0.7, 0.5])
    A, V = _random_symmetric(xp, a, seed=3)
    n, chaotic = a.size, np.abs(a) > 1
    Y, subs = xp.eye(n, dtype=xp.float64), {}
    for t in range(1, 13):
        Y = A @ Y
        if t in (8, 12):
            subs[t] = ly.finite_time_subspaces(Y, t)
    s8, s12 = subs[8], subs[12]
    ov = ly.subspace_overlap(s8, s12)
    res = max(abs(1 - s) for s in (ly.subspace_similarity(s8.chaotic, _to(xp, V[:, chaotic])),
                                   ly.subspace_similarity(s8.W, _to(xp, V[:, chaotic])),  # no neutral
                                   ov.chaotic, ov.nonchaotic))
    counts_ok = all(s.n_chaotic == int(chaotic.sum()) and s.n_neutral == 0 for s in (s8, s12))
    # Y carries the rounding of t products (rtol(n t) relative); a subspace tilts by at most
    # that over the relative gap of the singular values at the split (Wedin), squared in 1 - s.
    g = np.abs(a) ** 12  # sigma_i of Y(12); the gap at t = 8 is wider
    gap = (g[chaotic].min() - g[~chaotic].max()) / g.max()
    tol = (rtol(n * 12) / gap) ** 2 + rtol(n * n)
    return Outcome(res if counts_ok else math.inf, tol,
                   f"dims {s8.n_chaotic} chaotic / {s8.n_nonchaotic} non-chaotic; 1 - s, max of 4")


@check("H22-15", "Eq. (15): d^2 = alpha t^2 + beta t + eps^2 fit recovers noiseless alpha, beta")
def _h22_15(xp):
    alpha, beta, eps, T = 3e-4, 2e-3, 0.1, 200
    t = xp.arange(T, dtype=xp.float64)
    d = xp.sqrt(alpha * t * t + beta * t + eps * eps)
    fit = ly.fit_distance(t, d, d0=eps)
    th = np.arange(T, dtype=np.float64)
    cond = float(np.linalg.cond(np.stack([th, th**2], axis=1)))
    res = max(abs(fit.alpha / alpha - 1), abs(fit.beta / beta - 1))
    return Outcome(res, rtol(T) * cond, f"condition number of the design {cond:.1e}")


@check("H22-A8", "App. A.8: closed-form E|theta - theta'| vs Monte Carlo over 2,000 init pairs")
def _h22_a8(xp):
    # The Monte Carlo mean has standard error std(d)/sqrt(n) (std from the closed form); the
    # delta-method E d neglects O(c^2) rms with c = Var S / (E S)^2; we allow c^2 rms for it.
    model, n = mlp([20, 10, 5]), 2000
    ref = ly.expected_init_distance(model)
    d = [to_float(xp.linalg.vector_norm(model.init(2 * i, backend=xp) - model.init(2 * i + 1, backend=xp)))
         for i in range(n)]
    c = ref.var_sq / ref.mean_sq**2
    tol = MC_SIGMAS * ref.std / math.sqrt(n) + c * c * ref.rms
    return Outcome(abs(float(np.mean(d)) - ref.mean), tol,
                   f"E d = {ref.mean:.5f}, Monte Carlo {np.mean(d):.5f}, N={model.num_params}")


@check("H22-A8-6.38", "App. A.8: the printed 6.38 is sqrt(2) x the correct E d of the H22 MLP",
       host_only="closed-form arithmetic, no arrays")
def _h22_a8_paper(xp):
    model = mlp([256, 20, 10])
    ref = ly.expected_init_distance(model)
    reading = ly.paper_reading_a8(model)
    misread_mean = math.sqrt(2) * ref.mean  # E d under the misreading: 6.3845
    return Outcome(abs(reading / ref.rms - math.sqrt(2)), 8 * U,
                   f"correct E d = {ref.mean:.4f}; sqrt(2) E d = {misread_mean:.4f} and "
                   f"2 sqrt(E|theta|^2) = {reading:.4f} vs printed 6.38",
                   ((abs(misread_mean - PAPER_A8) <= PAPER_A8_DIGITS,
                     "sqrt(2) E d must round to the printed 6.38"),))
