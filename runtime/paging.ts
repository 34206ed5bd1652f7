// paging.ts: what a model's KV pager reports, read from the native library into the runtime's types
// (types.ts): its counters, its records (every decision it made, in order) and a session's residency.
// Model and Session (runtime.ts, session.ts) expose them.
import { type Handle, native, type NativeSessionInfo } from './native.js';
import type { PagingEvent, PagingStats, Residency } from './types.js';

const KINDS: PagingEvent['kind'][] = ['out', 'in', 'drop', 'run'];
const REASONS: PagingEvent['reason'][] = ['step', 'lru', 'next-use', 'prefetch', 'explicit', 'offload'];

export function pagingStats(model: Handle): PagingStats {
  const p = native.modelPagingStats(model);
  return {
    outBytes: p.out_bytes,
    inBytes: p.in_bytes,
    outBlocks: p.out_blocks,
    inBlocks: p.in_blocks,
    evictions: p.evictions,
    droppedBlocks: p.dropped_blocks,
    recomputedTokens: p.recomputed_tokens,
    prefetchedBlocks: p.prefetched_blocks,
    outMs: p.out_ms,
    inMs: p.in_ms,
    stallMs: p.stall_ms,
    hostAllocMs: p.host_alloc_ms,
  };
}

/** The pager's records from the `from`-th on, read in pages of 4096. */
export function pagingEvents(model: Handle, from: number): PagingEvent[] {
  const out: PagingEvent[] = [];
  // Both clocks are monotonic (the pager's steady_clock and process.hrtime are CLOCK_MONOTONIC on Linux):
  // performance.now() = monotonic ms - (monotonic ms at performance.now()'s origin).
  // Read between two performance.now() calls, their midpoint taken as the hrtime reading's moment.
  const before = performance.now();
  const mono = Number(process.hrtime.bigint()) / 1e6;
  const origin = native.modelPagingStats(model).origin_ms - (mono - (before + performance.now()) / 2);
  for (let first = from; ; ) {
    const { events, total } = native.modelPagingEvents(model, first, 4096);
    for (const e of events)
      out.push({
        seq: e.seq,
        tMs: e.t_ms,
        atMs: origin + e.t_ms,
        session: e.session,
        kind: KINDS[e.kind] ?? 'run',
        reason: REASONS[e.reason] ?? 'step',
        blocks: e.blocks,
        bytes: e.bytes,
        key: e.key,
        deviceBlocks: e.device_blocks,
        hostBlocks: e.host_blocks,
        poolUsed: e.pool_used,
        hostUsed: e.host_used,
      });
    first += events.length;
    if (events.length === 0 || first >= total) return out;
  }
}

export function residency(i: NativeSessionInfo): Residency {
  return { blocks: i.n_blocks, deviceBlocks: i.device_blocks, hostBlocks: i.host_blocks, droppedTokens: i.dropped_tokens, quota: i.quota, inBytes: i.in_bytes, outBytes: i.out_bytes };
}
