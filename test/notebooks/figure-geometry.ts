// figure-geometry.ts: what a figure drawn by plotly in a browser shows, read back from its DOM, and the
// four ways it can fail to read (issue 30): two text labels whose boxes overlap, a trace whose values
// span under 2% of its axis's range, an axis whose tick labels are not monotonic numbers, and a bar's
// label that leaves its bar's slot. `figureGeometry` runs in the page (page.evaluate): it is one
// self-contained function, since playwright sends its source text to the browser.

/** One way a drawn figure fails to read, and what it concerns. */
export interface Violation {
  check: 'overlap' | 'flat' | 'ticks' | 'slot';
  what: string;
}

/** The parts of plotly's graph div that are read (plotly's own fields, not a public API). */
interface Axis {
  _id: string;
  _offset: number;
  _length: number;
  _m: number;
  type: string;
  range: [number, number];
  visible?: boolean;
  showticklabels?: boolean;
  l2p(v: number): number;
  r2c(v: unknown): number;
}

interface Trace {
  type: string;
  name?: string;
  index: number;
  visible: boolean | string;
  orientation?: string;
  xaxis?: string;
  yaxis?: string;
  x?: unknown[];
  y?: unknown[];
}

interface CalcPoint {
  p?: number;
  s?: number;
  b?: number;
  x?: number;
  y?: number;
}

/**
 * The violations of the figure drawn in `div` (a plotly graph div).
 *
 * - overlap: two visible SVG text elements whose boxes (getBBox mapped through getScreenCTM, so a
 *   turned tick label is its turned box) overlap by more than 1 px both ways;
 * - flat: a trace whose values on a numeric axis change enough to be seen, by at least 10% of their
 *   magnitude on a linear axis (a factor of 1.25 on a log axis, where a trace is drawn at its own
 *   scale whatever else is there, and a flat one is a finding: resume beside recompute), but span
 *   under 2% of the axis's range (on a log axis in decades); a bar's values are its base and top;
 * - ticks: a numeric axis whose tick labels, in screen order, are not numbers or not strictly
 *   monotonic (plotly's "2 3 4 ... 10 2 3" between the powers of ten of a log axis);
 * - slot: a bar's text, or an annotation placed at a bar's position, that reaches past the bar's
 *   slot (its category's width, or the spacing of the bars' positions) by more than 1 px.
 */
export function figureGeometry(div: HTMLElement): Violation[] {
  const gd = div as unknown as { _fullLayout: Record<string, unknown> & { annotations: { x: unknown; xref: string; text: string }[]; _subplots: { xaxis: string[]; yaxis: string[] } }; _fullData: Trace[]; calcdata: CalcPoint[][] };
  const fl = gd._fullLayout;
  const out: Violation[] = [];
  const axisOf = (id: string): Axis => fl[id.replace(/^([xy])/, '$1axis')] as Axis;
  const short = (s: string) => (s.length > 40 ? `${s.slice(0, 37)}...` : s);

  // --- overlap: every visible text element against every other ----------------------------------
  type Pt = [number, number];
  const visible = (e: Element) => {
    if ((e.textContent ?? '').trim() === '' || e.getClientRects().length === 0 || e.closest('.hoverlayer')) return false;
    for (let a: Element | null = e; a && a !== div; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.display === 'none' || style.visibility === 'hidden' || Number(style.opacity) === 0) return false;
    }
    return true;
  };
  const texts = [...div.querySelectorAll('svg text')].filter(visible) as SVGTextElement[];
  const quads = texts.map((t): Pt[] => {
    const b = t.getBBox();
    const m = t.getScreenCTM() as DOMMatrix;
    return ([[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]] as Pt[]).map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  });
  // Two convex quadrilaterals overlap unless some edge's normal separates their projections (by 1 px of slack).
  const overlaps = (p: Pt[], q: Pt[]) => {
    for (const poly of [p, q])
      for (let i = 0; i < 4; i++) {
        const [a, b] = [poly[i] as Pt, poly[(i + 1) % 4] as Pt];
        const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
        if (len === 0) continue;
        const n: Pt = [-(b[1] - a[1]) / len, (b[0] - a[0]) / len];
        const proj = (ps: Pt[]) => ps.map((v) => v[0] * n[0] + v[1] * n[1]);
        const [pp, qq] = [proj(p), proj(q)];
        if (Math.min(Math.max(...pp), Math.max(...qq)) - Math.max(Math.min(...pp), Math.min(...qq)) <= 1) return false;
      }
    return true;
  };
  for (let i = 0; i < texts.length; i++)
    for (let j = i + 1; j < texts.length; j++)
      if (overlaps(quads[i] as Pt[], quads[j] as Pt[])) out.push({ check: 'overlap', what: `"${short((texts[i] as SVGTextElement).textContent ?? '')}" and "${short((texts[j] as SVGTextElement).textContent ?? '')}"` });

  // --- flat: each trace's values against its axes' ranges ------------------------------------------
  gd._fullData.forEach((trace, i) => {
    if (trace.visible !== true) return;
    const cd = gd.calcdata[i] ?? [];
    const onAxis: Record<'x' | 'y', number[]> = { x: [], y: [] };
    if (trace.type === 'bar') {
      const [pos, val] = trace.orientation === 'h' ? (['y', 'x'] as const) : (['x', 'y'] as const);
      for (const c of cd) {
        if (!Number.isFinite(c.s)) continue;
        onAxis[pos].push(c.p as number);
        onAxis[val].push(c.b ?? 0, (c.b ?? 0) + (c.s as number));
      }
    } else if (trace.type === 'heatmap') {
      onAxis.x = (trace.x ?? []).map(Number);
      onAxis.y = (trace.y ?? []).map(Number);
    } else {
      for (const c of cd) {
        onAxis.x.push(c.x as number);
        onAxis.y.push(c.y as number);
      }
    }
    for (const letter of ['x', 'y'] as const) {
      const ax = axisOf(letter === 'x' ? (trace.xaxis ?? 'x') : (trace.yaxis ?? 'y'));
      if (!ax || (ax.type !== 'linear' && ax.type !== 'log')) continue;
      const log = ax.type === 'log';
      const vs = onAxis[letter].filter((v) => Number.isFinite(v) && (!log || v > 0)).map((v) => (log ? Math.log10(v) : v));
      if (vs.length < 2) continue;
      const [lo, hi] = [Math.min(...vs), Math.max(...vs)];
      const seen = log ? 10 ** (hi - lo) >= 1.25 : (hi - lo) / Math.max(Math.abs(lo), Math.abs(hi)) >= 0.1;
      const share = (hi - lo) / Math.abs(ax.range[1] - ax.range[0]);
      if (seen && share < 0.02)
        out.push({ check: 'flat', what: `trace "${short(trace.name ?? `#${i}`)}" spans ${(100 * share).toFixed(2)}% of the ${ax._id} axis (${lo.toPrecision(3)} to ${hi.toPrecision(3)}${log ? ' decades' : ''} of ${ax.range[0].toPrecision(3)} to ${ax.range[1].toPrecision(3)})` });
    }
  });

  // --- ticks: the labels of each numeric axis, in screen order -------------------------------------
  for (const id of [...fl._subplots.xaxis, ...fl._subplots.yaxis]) {
    const ax = axisOf(id);
    if (!ax || ax.visible === false || ax.showticklabels === false || (ax.type !== 'linear' && ax.type !== 'log')) continue;
    const ticks = [...div.querySelectorAll(`g.${id}tick text`)]
      .filter(visible)
      .map((t) => {
        const r = t.getBoundingClientRect();
        const text = t.textContent ?? '';
        return { text, value: Number(text.replace(/\u2212/g, '-').replace(/[,\u2009\u202f ]/g, '')), at: id.startsWith('x') ? r.left + r.width / 2 : -(r.top + r.height / 2) };
      })
      .sort((a, b) => a.at - b.at);
    const texts = ticks.map((t) => t.text).join(' ');
    const bad = ticks.find((t) => t.text.trim() === '' || !Number.isFinite(t.value));
    if (bad) out.push({ check: 'ticks', what: `the ${id} axis ticks "${texts}": "${bad.text}" is not a number` });
    else {
      const steps = ticks.slice(1).map((t, k) => Math.sign(t.value - (ticks[k] as { value: number }).value));
      if (steps.some((s) => s === 0 || s !== steps[0])) out.push({ check: 'ticks', what: `the ${id} axis ticks "${texts}" are not monotonic` });
    }
  }

  // --- slot: bar texts and annotations at a bar's position, inside the bar's slot ------------------
  const svgBox = (div.querySelector('svg.main-svg') as SVGSVGElement).getBoundingClientRect(); // the origin of the axes' pixels
  const slots = new Map<string, { ax: Axis; positions: number[]; width: number }>();
  gd._fullData.forEach((trace, i) => {
    if (trace.type !== 'bar' || trace.visible !== true) return;
    const id = trace.orientation === 'h' ? (trace.yaxis ?? 'y') : (trace.xaxis ?? 'x');
    const slot = slots.get(id) ?? { ax: axisOf(id), positions: [], width: 1 };
    slot.positions.push(...(gd.calcdata[i] ?? []).map((c) => c.p as number).filter(Number.isFinite));
    slots.set(id, slot);
  });
  for (const slot of slots.values()) {
    const ps = [...new Set(slot.positions)].sort((a, b) => a - b);
    const gaps = ps.slice(1).map((p, k) => p - (ps[k] as number));
    slot.width = slot.ax.type === 'category' || gaps.length === 0 ? 1 : Math.min(...gaps);
  }
  // The page's pixels of the slot around position p on a slot's axis: across the page for an x axis (upright bars), down it for a y axis.
  const span = (slot: { ax: Axis; width: number }, p: number): [number, number] => {
    const origin = slot.ax._id.startsWith('x') ? svgBox.left : svgBox.top;
    const ends = [p - slot.width / 2, p + slot.width / 2].map((v) => origin + slot.ax._offset + slot.ax.l2p(v));
    return [Math.min(...ends), Math.max(...ends)];
  };
  const inside = (box: DOMRect, slot: { ax: Axis; width: number }, p: number) => {
    const [lo, hi] = span(slot, p);
    const [from, to] = slot.ax._id.startsWith('x') ? [box.left, box.right] : [box.top, box.bottom];
    return from >= lo - 1 && to <= hi + 1;
  };
  for (const text of [...div.querySelectorAll('.bars .point text')].filter(visible)) {
    const point = (text.closest('.point') as unknown as { __data__: CalcPoint }).__data__;
    const trace = (text.closest('.trace') as unknown as { __data__: { trace: Trace }[] }).__data__[0]?.trace;
    const slot = trace && slots.get(trace.orientation === 'h' ? (trace.yaxis ?? 'y') : (trace.xaxis ?? 'x'));
    if (slot && point && !inside(text.getBoundingClientRect(), slot, point.p as number)) out.push({ check: 'slot', what: `bar text "${short(text.textContent ?? '')}" leaves its bar's slot` });
  }
  fl.annotations.forEach((a, i) => {
    const slot = slots.get(a.xref);
    const text = div.querySelector(`.annotation[data-index="${i}"] text`);
    if (!slot || !text || !visible(text)) return;
    const at = typeof a.x === 'number' ? a.x : slot.ax.r2c(a.x);
    const bar = slot.positions.find((p) => Math.abs(p - at) <= slot.width / 2);
    if (bar !== undefined && !inside(text.getBoundingClientRect(), slot, bar)) out.push({ check: 'slot', what: `label "${short(a.text.replace(/<br>/g, ' '))}" leaves the slot of its bar` });
  });
  return out;
}
