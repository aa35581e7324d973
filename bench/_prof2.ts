import Database from 'better-sqlite3';
import { performance } from 'node:perf_hooks';
const times = new Map<string, [number, number]>();
let on = false;
const origPrepare = (Database as any).prototype.prepare;
(Database as any).prototype.prepare = function (text: string) {
  const st = origPrepare.call(this, text);
  const key = text.replace(/\s+/g, ' ').replace(/(\?, )+\?/g, '?…').slice(0, 110);
  for (const m of ['all', 'run', 'get']) {
    const f = st[m].bind(st);
    st[m] = (...a: unknown[]) => { if (!on) return f(...a); const t = performance.now(); try { return f(...a); } finally { const e = times.get(key) ?? [0, 0]; e[0] += performance.now() - t; e[1]++; times.set(key, e); } };
  }
  return st;
};
(globalThis as any).__profOn = (v: boolean) => { on = v; };
(globalThis as any).__profDump = () => [...times].sort((a, b) => b[1][0] - a[1][0]).slice(0, 15).forEach(([k, [t, n]]) => console.log(t.toFixed(0).padStart(6), 'ms', String(n).padStart(6), k));
