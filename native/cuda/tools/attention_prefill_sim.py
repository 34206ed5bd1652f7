# attention_prefill_sim.py: a lane-by-lane numpy model of attention_prefill_kernel (kernels/attention.cuh)
# using the PTX mma.m16n8k16 fragment layouts, checked against a plain softmax-attention reference.
# It validates the kernel's fragment index arithmetic (Q/K/V fragments, P reused as A fragments,
# causal mask, online softmax, output mapping) on a machine without a GPU. Keep it in step with the
# kernel when the kernel changes.  Run: python3 native/cuda/tools/attention_prefill_sim.py
import numpy as np
rng = np.random.default_rng(0)

def mma(d, a, b0, b1):
    # d: [32][4] floats; a: [32][4] pairs; b0,b1: [32] pairs  -> d += A @ B
    A = np.zeros((16, 16)); B = np.zeros((16, 8))
    for l in range(32):
        g, c = l // 4, l % 4
        A[g, 2*c:2*c+2] = a[l][0]; A[g+8, 2*c:2*c+2] = a[l][1]
        A[g, 2*c+8:2*c+10] = a[l][2]; A[g+8, 2*c+8:2*c+10] = a[l][3]
        B[2*c:2*c+2, g] = b0[l]; B[2*c+8:2*c+10, g] = b1[l]
    D = A @ B
    for l in range(32):
        g, c = l // 4, l % 4
        d[l][0] += D[g, 2*c]; d[l][1] += D[g, 2*c+1]; d[l][2] += D[g+8, 2*c]; d[l][3] += D[g+8, 2*c+1]

def h(x): return np.float16(x).astype(np.float64)

def run(T, n_past, nh, nkv, HD, bt, scale):
    ctx = n_past + T
    used = (ctx + bt - 1) // bt
    n_blocks = used + 3
    n_layers, layer = 2, 1
    kv_dim = nkv * HD
    pool = h(rng.uniform(-1, 1, size=(n_blocks, n_layers, 2, bt, kv_dim)))
    table = rng.permutation(n_blocks)[:used]
    positions = np.arange(T) + n_past
    q = h(rng.uniform(-1, 1, size=(T, nh * HD)))
    out = np.full((T, nh * HD), np.nan)
    BM = BN = 64; LD = HD + 8; KK = HD // 16; NT = BN // 8; DT = HD // 8
    scale_log2 = scale * 1.4426950408889634
    n_tiles = (T + BM - 1) // BM
    for bx in range(n_tiles):
        tile = n_tiles - 1 - bx
        for hh in range(nh):
            t0 = tile * BM
            kvh = hh // (nh // nkv)
            pos_s = np.array([positions[t0 + r] if t0 + r < T else -1 for r in range(BM)])
            max_pos = pos_s.max()
            ks = np.zeros((BN, LD)); vs = np.zeros((BN, LD))
            for r in range(BM):
                t = t0 + r
                if t < T: ks[r, :HD] = q[t, hh*HD:(hh+1)*HD]
            n_keys = max_pos + 1
            # per-warp state
            W = []
            for warp in range(4):
                st = {'qf': [], 'o': [[[0.0]*4 for _ in range(32)] for _ in range(DT)],
                      'm0': [-np.inf]*32, 'm1': [-np.inf]*32, 'l0': [0.0]*32, 'l1': [0.0]*32}
                for kk in range(KK):
                    regs = []
                    for l in range(32):
                        g, c = l // 4, l % 4; r0 = warp*16 + g
                        regs.append((ks[r0, kk*16+2*c:kk*16+2*c+2].copy(), ks[r0+8, kk*16+2*c:kk*16+2*c+2].copy(),
                                     ks[r0, kk*16+8+2*c:kk*16+8+2*c+2].copy(), ks[r0+8, kk*16+8+2*c:kk*16+8+2*c+2].copy()))
                    st['qf'].append(regs)
                W.append(st)
            for kb in range(0, n_keys, BN):
                ks[:] = 0; vs[:] = 0
                for r in range(BN):
                    p = kb + r
                    if p < n_keys:
                        blk = table[p // bt]
                        ks[r, :HD] = pool[blk, layer, 0, p % bt, kvh*HD:(kvh+1)*HD]
                        vs[r, :HD] = pool[blk, layer, 1, p % bt, kvh*HD:(kvh+1)*HD]
                for warp in range(4):
                    st = W[warp]
                    sc = [[[0.0]*4 for _ in range(32)] for _ in range(NT)]
                    for nt in range(NT):
                        for kk in range(KK):
                            b0 = []; b1 = []
                            for l in range(32):
                                g, c = l // 4, l % 4
                                b0.append(ks[nt*8+g, kk*16+2*c:kk*16+2*c+2]); b1.append(ks[nt*8+g, kk*16+8+2*c:kk*16+8+2*c+2])
                            mma(sc[nt], st['qf'][kk], b0, b1)
                    for l in range(32):
                        g, c = l // 4, l % 4; r0 = warp*16 + g
                        pos0, pos1 = pos_s[r0], pos_s[r0+8]
                        for nt in range(NT):
                            for e in range(4):
                                key = kb + nt*8 + 2*c + (e & 1)
                                pos = pos0 if e < 2 else pos1
                                sc[nt][l][e] = sc[nt][l][e]*scale_log2 if key <= pos else -np.inf
                    # row max over quad
                    mx0 = [max(max(sc[nt][l][0], sc[nt][l][1]) for nt in range(NT)) for l in range(32)]
                    mx1 = [max(max(sc[nt][l][2], sc[nt][l][3]) for nt in range(NT)) for l in range(32)]
                    for arr in (mx0, mx1):
                        for x in (1, 2):
                            prev = arr[:]
                            for l in range(32): arr[l] = max(prev[l], prev[l ^ x])
                    for l in range(32):
                        mn0 = max(st['m0'][l], mx0[l]); mn1 = max(st['m1'][l], mx1[l])
                        base0 = 0.0 if mn0 == -np.inf else mn0; base1 = 0.0 if mn1 == -np.inf else mn1
                        corr0 = 2.0 ** (st['m0'][l] - base0); corr1 = 2.0 ** (st['m1'][l] - base1)
                        s0 = s1 = 0.0
                        for nt in range(NT):
                            sc[nt][l][0] = 2.0 ** (sc[nt][l][0] - base0); sc[nt][l][1] = 2.0 ** (sc[nt][l][1] - base0)
                            sc[nt][l][2] = 2.0 ** (sc[nt][l][2] - base1); sc[nt][l][3] = 2.0 ** (sc[nt][l][3] - base1)
                            s0 += sc[nt][l][0] + sc[nt][l][1]; s1 += sc[nt][l][2] + sc[nt][l][3]
                        st['l0'][l] = st['l0'][l]*corr0 + s0; st['l1'][l] = st['l1'][l]*corr1 + s1
                        st['m0'][l] = mn0; st['m1'][l] = mn1
                        for dt in range(DT):
                            st['o'][dt][l][0] *= corr0; st['o'][dt][l][1] *= corr0
                            st['o'][dt][l][2] *= corr1; st['o'][dt][l][3] *= corr1
                    for j in range(BN // 16):
                        pa = [(h([sc[2*j][l][0], sc[2*j][l][1]]), h([sc[2*j][l][2], sc[2*j][l][3]]),
                               h([sc[2*j+1][l][0], sc[2*j+1][l][1]]), h([sc[2*j+1][l][2], sc[2*j+1][l][3]])) for l in range(32)]
                        for dt in range(DT):
                            b0 = []; b1 = []
                            for l in range(32):
                                g, c = l // 4, l % 4
                                kr = j*16 + 2*c
                                b0.append(np.array([vs[kr, dt*8+g], vs[kr+1, dt*8+g]]))
                                b1.append(np.array([vs[kr+8, dt*8+g], vs[kr+9, dt*8+g]]))
                            mma(st['o'][dt], pa, b0, b1)
            for warp in range(4):
                st = W[warp]
                l0 = st['l0'][:]; l1 = st['l1'][:]
                for arr in (l0, l1):
                    for x in (1, 2):
                        prev = arr[:]
                        for l in range(32): arr[l] = prev[l] + prev[l ^ x]
                for l in range(32):
                    g, c = l // 4, l % 4; r0 = warp*16 + g
                    inv0 = 1/l0[l] if l0[l] > 0 else 0; inv1 = 1/l1[l] if l1[l] > 0 else 0
                    ta, tb = t0 + r0, t0 + r0 + 8
                    for dt in range(DT):
                        col = hh*HD + dt*8 + 2*c
                        if ta < T: out[ta, col:col+2] = h([st['o'][dt][l][0]*inv0, st['o'][dt][l][1]*inv0])
                        if tb < T: out[tb, col:col+2] = h([st['o'][dt][l][2]*inv1, st['o'][dt][l][3]*inv1])
    # reference
    ref = np.zeros_like(out)
    for t in range(T):
        for hh in range(nh):
            kvh = hh // (nh // nkv)
            n = positions[t] + 1
            K = np.array([pool[table[p // bt], layer, 0, p % bt, kvh*HD:(kvh+1)*HD] for p in range(n)])
            V = np.array([pool[table[p // bt], layer, 1, p % bt, kvh*HD:(kvh+1)*HD] for p in range(n)])
            s = K @ q[t, hh*HD:(hh+1)*HD] * scale
            w = np.exp(s - s.max()); w /= w.sum()
            ref[t, hh*HD:(hh+1)*HD] = w @ V
    err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
    print(f"T={T} past={n_past} nh={nh} nkv={nkv} HD={HD} bt={bt}: rel_err={err:.2e} nan={np.isnan(out).sum()}")

run(20, 5, 2, 1, 64, 16, 1/8)
run(70, 3, 2, 1, 64, 7, 1/8)
run(37, 0, 2, 2, 128, 16, 1/np.sqrt(128))
