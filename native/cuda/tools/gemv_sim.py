#!/usr/bin/env python3
"""Lane-level model of gemv_kernel's work split (kernels/gemv.cuh), checked against a reference.

Models, for random shapes: gemv_launch's grid sizing (one wave, equal work, the ksplit choice), which
(row, K-vector) every lane of every warp of every block reads in every block group, the clamped loads
(they must stay in bounds), the warp sums and the shared-memory sum over the ksplit warps of a group,
and which lane stores which output (plain epilogue) or which rotation pair (rope epilogue, with the
permuted rows of gemv_row). Asserts that every (row, K-vector) is used exactly once, every output is
stored exactly once, and out == x . w^T. Run: python3 native/cuda/tools/gemv_sim.py
"""
import random

import numpy as np

WARP, WARPS = 32, 4  # lanes per warp, warps per block (GEMV_THREADS = 128)


def ceil_div(a, b):
    return (a + b - 1) // b


def nt_for(T):  # the NT instantiation gemv_forward picks
    return 1 if T <= 1 else 2 if T <= 2 else 4 if T <= 4 else 8


def gemv_row(rope, hd, ROWS, grp, r):
    if not rope:
        return grp * ROWS + r
    P = ROWS // 2
    half = hd // 2
    gph = half // P
    head = grp // gph
    j0 = (grp - head * gph) * P
    return head * hd + (j0 + r if r < P else half + j0 + (r - P))


def launch(N, K, T, U, n_sms, blocks_per_sm, force=0):
    """gemv_launch: returns ROWS, ksplit, n_groups, n_bgroups, blocks."""
    ROWS = 2 if T > 4 else 4
    n_groups = ceil_div(N, ROWS)
    resident = n_sms * blocks_per_sm

    def blocks_for(ks):
        bg = ceil_div(n_groups, WARPS // ks)
        return ceil_div(bg, ceil_div(bg, resident)), bg

    if force in (1, 2, 4):
        ks = force
    else:
        ks = 1
        best, _ = blocks_for(1)
        for k in (2, 4):
            if K // 8 < k * WARP * U:
                break
            b, _ = blocks_for(k)
            if b * 10 > best * 11:
                best, ks = b, k
    blocks, bgroups = blocks_for(ks)
    return ROWS, ks, n_groups, bgroups, blocks


def run(N, K, T, rope=False, hd=0, U=4, n_sms=132, blocks_per_sm=4, force=0):
    ROWS, ks, n_groups, n_bgroups, blocks = launch(N, K, T, U, n_sms, blocks_per_sm, force)
    NT, P = nt_for(T), ROWS // 2
    nvec = K // 8
    rng = np.random.default_rng(1)
    W = rng.standard_normal((N, K))
    X = rng.standard_normal((T, K))
    out = np.full((T, N), np.nan)
    stores = np.zeros((T, N), int)
    used = np.zeros((N, nvec), int)
    gpb, kstride = WARPS // ks, ks * WARP
    for b in range(blocks):
        bg = b
        while bg < n_bgroups:
            red = np.zeros((WARPS, NT * ROWS))  # warp sums (lane 0 writes them to shared memory)
            for warp in range(WARPS):
                sub, slot = warp % ks, warp // ks
                grp = bg * gpb + slot
                if grp >= n_groups:
                    continue  # inactive warp: sums stay 0
                rows = [min(gemv_row(rope, hd, ROWS, grp, r), N - 1) for r in range(ROWS)]  # clamped pointers
                for lane in range(WARP):
                    base = sub * WARP + lane  # kfirst
                    loads = [min(base + kstride * u, nvec - 1) for u in range(U)]  # the preload / first step
                    assert all(0 <= v < nvec for v in loads)
                    while base < nvec:
                        for u in range(U):
                            v = base + kstride * u
                            assert 0 <= min(v, nvec - 1) < nvec
                            if v < nvec:
                                for r in range(ROWS):
                                    if gemv_row(rope, hd, ROWS, grp, r) < N:
                                        used[rows[r], v] += 1
                                    for t in range(T):
                                        red[warp, t * ROWS + r] += W[rows[r], v * 8:v * 8 + 8] @ X[t, v * 8:v * 8 + 8]
                        base += kstride * U
            for warp in range(WARPS):  # the epilogue, by the first warp of each group
                sub, slot = warp % ks, warp // ks
                grp = bg * gpb + slot
                if grp >= n_groups or sub != 0:
                    continue

                def total(i):
                    return sum(red[warp + k, i] for k in range(ks))

                for lane in range(WARP):
                    if not rope and lane < NT * ROWS:
                        t, r = lane // ROWS, lane % ROWS
                        row = grp * ROWS + r
                        if t < T and row < N:
                            out[t, row] = total(lane)
                            stores[t, row] += 1
                    elif rope and lane < NT * P:
                        t, i = lane // P, lane % P
                        if t < T:
                            col = gemv_row(rope, hd, ROWS, grp, i)
                            assert col % hd < hd // 2
                            out[t, col], out[t, col + hd // 2] = total(t * ROWS + i), total(t * ROWS + i + P)
                            stores[t, col] += 1
                            stores[t, col + hd // 2] += 1
            bg += blocks
    assert (stores == 1).all(), "every output stored exactly once"
    assert (used == 1).all(), "every (row, K-vector) used exactly once"
    err = np.abs(out - X @ W.T).max()
    assert err < 1e-9, err


if __name__ == "__main__":
    print("Llama-2-7B decode shapes on an H100 (132 SMs, 4 resident blocks per SM at T = 1):")
    for name, (N, K) in [("o_proj", (4096, 4096)), ("down", (4096, 11008)), ("[q; k; v]", (12288, 4096)),
                         ("[gate; up]", (22016, 4096)), ("lm_head", (32000, 4096))]:
        ROWS, ks, groups, bgroups, blocks = launch(N, K, 1, 4, 132, 4)
        print(f"  {name:11s} {N:5d} x {K:5d}: ksplit {ks}, {groups} row groups, {bgroups} block groups, "
              f"{blocks} blocks ({bgroups / blocks:.0f} block groups each)")
    random.seed(0)
    n = 0
    while n < 300:
        T = random.choice([1, 2, 3, 4, 5, 8])
        rope = random.random() < 0.4
        if rope:
            hd = random.choice([2, 6, 16, 64, 80, 128])
            if hd % (2 if T > 4 else 4):
                continue  # the backend falls back to the default chain
            nh, nkv = random.choice([(1, 1), (2, 1), (4, 2), (3, 3)])
            N = (nh + 2 * nkv) * hd
        else:
            hd, N = 0, random.randint(1, 300)
        run(N, 8 * random.randint(1, 200), T, rope, hd, U=random.choice([2, 4]), n_sms=random.choice([1, 2, 3, 7]),
            blocks_per_sm=random.choice([1, 2, 4]), force=random.choice([0, 0, 1, 2, 4]))
        n += 1
    print(f"{n} random shapes: every (row, K-vector) used once, every output stored once, out == x . w^T: ok")
