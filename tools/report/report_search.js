// servesim report.html for a sweep (`servesim sweep --out DIR`) and a plan search
// (`servesim plan search --out DIR`): draws sim/report/report_search.h's documents.
(function () {
  'use strict';
  const { data, el, fmt, get, section, table, chart, axis, title, PALETTE } = SR;
  if (data.kind !== 'sweep' && data.kind !== 'plan') return;
  const text = v => (typeof v === 'string' ? v : JSON.stringify(v));
  const median = xs => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN; };
  const pct = v => (typeof v === 'number' ? fmt(v * 100, 0) + ' %' : '–');
  const money = v => (typeof v === 'number' ? '$' + fmt(v, 2) : '–');
  const device = d => String(d).replace(/_/g, ' ').toUpperCase();          // h100_sxm -> H100 SXM
  const duration = v => String(v).replace(/(\.\d*?)0+ /, '$1 ').replace(/\. /, ' ');  // "50.000 ms" -> "50 ms"

  // ===================================== sweep =============================================
  function drawSweep() {
    const keys = data.keys;
    const points = data.points;
    const ok = points.filter(p => p.status === 'ok' && p.m);
    const failed = points.filter(p => p.status !== 'ok');
    const metrics = data.metrics.filter(m => ok.some(p => typeof p.m[m.key] === 'number'));
    const metricByKey = Object.fromEntries(metrics.map(m => [m.key, m]));
    const mlabel = m => `${m.label}${m.unit ? ` (${m.unit})` : ''}`;
    const setText = p => keys.filter(k => p.set[k] !== undefined).map(k => `${k} = ${text(p.set[k])}`).join(', ') || '(the base scenario)';
    SR.header(data.title || `Sweep: ${data.name || data.label}`,
      `servesim sweep — ${points.length} configurations of one scenario over ${keys.length} setting${keys.length === 1 ? '' : 's'}` +
      `${failed.length ? `, ${failed.length} failed` : ''}. Latencies in milliseconds. Folder: ${data.dir}`);

    // --- what was varied ---
    const axes = section('Settings varied', 'Each point is the base scenario with these settings changed; every point runs the same traffic (same seed) unless the seed is varied.');
    const values = k => { const seen = new Map(); for (const p of points) if (p.set[k] !== undefined) seen.set(text(p.set[k]), p.set[k]); return [...seen.values()]; };
    axes.appendChild(table(['setting', 'values', 'count'], keys.map(k => [k, values(k).map(text).join(', '), String(values(k).length)])));

    // --- highlights ---
    const hi = section('Best points', 'The best point for each headline metric, and the settings that got it.');
    const best = (key, better) => ok.filter(p => typeof p.m[key] === 'number').reduce((a, p) => (!a || (better === 'up' ? p.m[key] > a.m[key] : p.m[key] < a.m[key]) ? p : a), null);
    const rows = [];
    for (const key of ['ttft_p99', 'tpot_p99', 'throughput_tok_s', 'goodput_req_s', 'usd_per_m_tokens']) {
      const m = metricByKey[key];
      if (!m) continue;
      const p = best(key, m.better);
      if (p) rows.push([`${m.better === 'up' ? 'highest' : 'lowest'} ${mlabel(m)}`, fmt(p.m[key], m.unit === '$' ? 3 : undefined), `#${p.index}`, setText(p)]);
    }
    hi.appendChild(table(['metric', 'value', 'point', 'settings'], rows));

    // --- metric vs each axis ---
    const mv = section('Metric vs each setting', 'One chart per varied setting. Lines join the points that share every other setting (one line per combination); ' +
      'with more than 8 combinations, every point is a dot and the line is the median over the other settings. Pick the metrics to plot:');
    const pick = (id, def) => {
      const s = el('select', { id: id });
      for (const m of metrics) { const o = el('option', { value: m.key, text: mlabel(m) }); if (m.key === def) o.setAttribute('selected', 'selected'); s.appendChild(o); }
      return s;
    };
    const left = pick('metric-left', metricByKey.ttft_p99 ? 'ttft_p99' : metrics[0] && metrics[0].key);
    const right = pick('metric-right', metricByKey.throughput_tok_s ? 'throughput_tok_s' : metrics[0] && metrics[0].key);
    mv.appendChild(el('div', { class: 'controls' }, [el('label', {}, ['left: ', left]), el('label', {}, ['right: ', right])]));
    const grid = el('div', { class: 'grid' });
    mv.appendChild(grid);
    const drawn = [];
    const short = key => key.split('.').pop();  // scheduler.max_num_seqs -> max_num_seqs
    function option(k, mkey) {
      const m = metricByKey[mkey];
      const xs = values(k);
      const numeric = xs.every(v => typeof v === 'number');
      const order = numeric ? [...xs].sort((a, b) => a - b) : xs;
      const xOf = v => (numeric ? v : order.map(text).indexOf(text(v)));
      const others = keys.filter(o => o !== k);
      const groups = new Map();
      const ys = [];
      for (const p of ok) {
        if (p.set[k] === undefined || typeof p.m[mkey] !== 'number') continue;
        const g = others.filter(o => p.set[o] !== undefined).map(o => `${short(o)} ${text(p.set[o])}`).join(' · ') || 'all points';
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push([xOf(p.set[k]), p.m[mkey]]);
        ys.push(p.m[mkey]);
      }
      let series;
      if (groups.size <= 8) {
        // One line (numeric setting) or one bar group (named setting) per combination of the others.
        series = [...groups.entries()].map(([g, pts]) => (numeric ? { name: g, type: 'line', symbolSize: 7, data: pts.sort((a, b) => a[0] - b[0]) }
          : { name: g, type: 'bar', barMaxWidth: 26, data: order.map((v, i) => { const hit = pts.find(q => q[0] === i); return hit ? hit[1] : null; }) }));
      } else {
        const all = [...groups.values()].flat();
        const byX = new Map();
        for (const [x, y] of all) { if (!byX.has(x)) byX.set(x, []); byX.get(x).push(y); }
        const med = [...byX.entries()].map(([x, v]) => [x, median(v)]).sort((a, b) => a[0] - b[0]);
        series = [
          { name: 'each point', type: 'scatter', symbolSize: 6, itemStyle: { color: '#7d8794', opacity: 0.6 }, z: 3, data: all },
          numeric ? { name: 'median over the other settings', type: 'line', symbolSize: 8, lineStyle: { width: 3 }, itemStyle: { color: PALETTE[0] }, data: med }
            : { name: 'median over the other settings', type: 'bar', barMaxWidth: 48, itemStyle: { color: PALETTE[0], opacity: 0.35 }, data: order.map((v, i) => { const hit = med.find(q => q[0] === i); return hit ? hit[1] : null; }) },
        ];
      }
      const spanX = numeric && order.length > 2 && order[0] > 0 && order[order.length - 1] / order[0] >= 16;
      const lo = Math.min(...ys), hi = Math.max(...ys);
      const logY = m.unit !== '%' && lo > 0 && hi / lo > 50;  // latencies from tens of ms to tens of s
      // Legend rows at about 80 characters of 11-px text per row of a half-width chart.
      const legendRows = Math.max(1, Math.ceil(series.reduce((a, x) => a + x.name.length + 6, 0) / 70));
      return {
        title: title(`${m.label} vs ${k}`), legend: { bottom: 0, itemGap: 10, itemWidth: 16, textStyle: { fontSize: 11 } }, grid: { bottom: 52 + 21 * legendRows, left: 72 },
        tooltip: { trigger: numeric ? 'item' : 'axis', valueFormatter: v => fmt(v) },
        xAxis: numeric ? axis(k + (spanX ? ' (log scale)' : ''), { type: spanX ? 'log' : 'value', scale: true, nameGap: 28 })
          : axis(k, { type: 'category', data: order.map(text), nameGap: 28, axisLabel: { interval: 0, hideOverlap: true } }),
        yAxis: axis(mlabel(m) + (logY ? ', log scale' : ''), Object.assign({ type: logY ? 'log' : 'value', nameGap: 52 }, m.unit === '%' ? { min: 0, max: 100 } : {})),
        series: series,
      };
    }
    for (const k of keys) {
      drawn.push({ k, side: left, c: chart(grid, option(k, left.value), true) });
      drawn.push({ k, side: right, c: chart(grid, option(k, right.value), true) });
    }
    for (const s of [left, right]) s.addEventListener('change', () => drawn.filter(d => d.side === s).forEach(d => d.c.setOption(option(d.k, s.value), true)));

    // --- every point ---
    const cols = ['ttft_p50', 'ttft_p99', 'tpot_p99', 'e2e_p99', 'throughput_req_s', 'throughput_tok_s', 'goodput_pct', 'preemptions', 'usd_per_m_tokens'].filter(k => metricByKey[k]);
    const tbl = section('Every point', `${points.length} point${points.length === 1 ? '' : 's'} in sweep order${data.truncated ? ' (the first ones only: the sweep is larger)' : ''}; ` +
      'the same table is points.csv in the sweep folder.');
    tbl.appendChild(table(['#', ...keys, 'status', ...cols.map(k => mlabel(metricByKey[k]))],
      points.slice(0, 2000).map(p => [String(p.index), ...keys.map(k => (p.set[k] === undefined ? '' : text(p.set[k]))), p.status === 'ok' ? 'ok' : `failed: ${p.error || ''}`,
        ...cols.map(k => (p.m && typeof p.m[k] === 'number' ? fmt(p.m[k], k === 'preemptions' ? 0 : undefined) : '–'))]),
      null, points.map(p => (p.status === 'ok' ? '' : 'failed'))));
    SR.done('Each point is one simulation with one seed.');
  }

  // ===================================== plan ==============================================
  function drawPlan() {
    const plan = data.plan || {};
    const cands = data.candidates;
    const meeting = cands.filter(c => c.meets_target);
    const chosen = meeting.find(c => c.rank === 1);
    const sloText = (() => {
      const s = plan.slo || {};
      const p = s.percentile !== undefined ? s.percentile : 99;
      const parts = ['ttft', 'tpot', 'e2e'].filter(k => s[k] && !/^0(\.0+)? ?[a-z]*s?$/.test(String(s[k]))).map(k => `${k.toUpperCase()} p${s[`${k}_percentile`] || p} ≤ ${duration(s[k])}`);
      return (parts.join(', ') || 'none') + (s.goodput ? ` for ${fmt(s.goodput * 100, 0)} % of requests` : '');
    })();
    const latName = (data.pareto && data.pareto.latency_metric) || 'latency';
    const latLabel = latName.replace(/_at_target_s$/, '').replace(/^([a-z0-9]+)_p(\d+)$/, (m, a, b) => `${a.toUpperCase()} p${b}`);
    const latMs = c => (c.at_target_rate && c.at_target_rate.slo_values_s ? c.at_target_rate.slo_values_s[0] * 1e3 : NaN);
    const describe = c => `${device(c.device)}, TP ${c.tp}${c.pp > 1 ? ` PP ${c.pp}` : ''}, ${c.replicas} ${c.disaggregation === 'colocated' ? 'colocated replica' + (c.replicas === 1 ? '' : 's') : `unit${c.replicas === 1 ? '' : 's'} of ${c.disaggregation} prefill:decode`}` +
      ` (${c.gpus} GPU${c.gpus === 1 ? '' : 's'}), token budget ${c.max_num_batched_tokens}, ${c.max_num_seqs} sequences`;
    SR.header(data.title || `Capacity plan: ${plan.name || data.label}`,
      `servesim plan search — ${plan.model || ''} at ${fmt(plan.target_rate, 1)} req/s; SLO ${sloText}; ${cands.length} candidate deployments` +
      `${plan.price ? `, ${plan.price.replace('_', '-')} prices` : ''}. Folder: ${data.dir}`);

    // --- the recommendation ---
    const rec = section('Recommendation', 'The cheapest deployment whose simulated latency meets every SLO at the target rate (ties: the lower latency).');
    if (chosen) {
      const card = el('div', { class: 'callout' }, [
        el('div', { class: 'big', text: describe(chosen) }),
        el('div', { class: 'kpis' }, [
          ['cost', `${money(chosen.usd_per_hour)} / hour`], ['sustains', `${fmt(chosen.max_rate, 1)} req/s`], ['headroom', pct(chosen.headroom)],
          [`${latLabel} at ${fmt(plan.target_rate, 1)} req/s`, `${fmt(latMs(chosen), 0)} ms`], ['per million output tokens', money(chosen.usd_per_m_output_tokens)],
        ].map(([k, v]) => el('div', { class: 'kpi' }, [el('div', { class: 'v', text: v }), el('div', { class: 'k', text: k })])))]);
      rec.appendChild(card);
      const next = meeting.filter(c => c.rank > 1).slice(0, 4);
      if (next.length) {
        rec.appendChild(el('h3', { text: 'Runners-up' }));
        rec.appendChild(table(['rank', 'deployment', '$/hour', 'vs chosen', 'sustains (req/s)', 'headroom', `${latLabel} (ms)`, '$/M tokens'],
          next.map(c => [String(c.rank), describe(c), money(c.usd_per_hour), `+${fmt((c.usd_per_hour / chosen.usd_per_hour - 1) * 100, 0)} %`, fmt(c.max_rate, 1), pct(c.headroom), fmt(latMs(c), 0), money(c.usd_per_m_output_tokens)])));
      }
    } else {
      const closest = cands.filter(c => c.max_rate > 0).sort((a, b) => b.max_rate / b.usd_per_hour - a.max_rate / a.usd_per_hour)[0];
      rec.appendChild(el('div', { class: 'callout bad' }, [el('div', { class: 'big', text: `No candidate meets the SLOs at ${fmt(plan.target_rate, 1)} req/s.` }),
        el('p', { text: closest ? `Best rate per dollar: ${describe(closest)}, sustaining ${fmt(closest.max_rate, 1)} req/s for ${money(closest.usd_per_hour)}/hour; about ${closest.replicas_for_target} replicas of it would be needed.` : 'No candidate sustained any rate.' })]));
    }

    // --- Pareto fronts ---
    const devices = [...new Set(cands.map(c => c.device))];
    const color = d => PALETTE[devices.indexOf(d) % PALETTE.length];
    const pareto = section('Cost against latency and headroom', 'Every deployment that meets the SLOs at the target rate, by device. The line is the Pareto front: ' +
      'no other deployment is both cheaper (or as cheap) and better. The star is the recommendation.');
    const pg = el('div', { class: 'grid' });
    pareto.appendChild(pg);  // two columns on a wide screen, one when narrow
    function frontChart(yName, yOf, flag, yExtra) {
      const series = devices.map(d => ({ name: device(d), type: 'scatter', symbolSize: 10, itemStyle: { color: color(d), opacity: 0.85 },
        data: meeting.filter(c => c.device === d).map(c => ({ value: [c.usd_per_hour, yOf(c)], name: c.candidate })) }));
      const front = meeting.filter(c => c[flag]).sort((a, b) => a.usd_per_hour - b.usd_per_hour);
      series.push({ name: 'Pareto front', type: 'line', step: 'end', symbol: 'none', lineStyle: { color: '#1d2733', width: 2, type: 'dashed' }, data: front.map(c => [c.usd_per_hour, yOf(c)]) });
      if (chosen) series.push({ name: 'recommended', type: 'scatter', symbol: 'path://M50,3 L61,38 L98,38 L68,60 L79,95 L50,73 L21,95 L32,60 L2,38 L39,38 Z', symbolSize: 22, itemStyle: { color: '#e09b2d', borderColor: '#1d2733', borderWidth: 1 }, z: 5,
        data: [{ value: [chosen.usd_per_hour, yOf(chosen)], name: chosen.candidate }] });
      return {
        title: title(`${yName} vs cost`), legend: { bottom: 0, itemGap: 12, itemWidth: 16, textStyle: { fontSize: 11 } }, grid: { bottom: 84, left: 72 },
        tooltip: { trigger: 'item', formatter: p => `${p.data.name || p.seriesName}<br>$${fmt(p.value[0], 2)}/h, ${fmt(p.value[1], 1)}` },
        xAxis: axis('cost ($ per hour)', { type: 'value', scale: true, nameGap: 28 }), yAxis: axis(yName, Object.assign({ type: 'value', scale: true, nameGap: 48 }, yExtra || {})), series: series,
      };
    }
    if (meeting.length) {
      chart(pg, frontChart(`${latLabel} at ${fmt(plan.target_rate, 1)} req/s (ms)`, latMs, 'pareto_cost_latency'), true);
      chart(pg, frontChart('headroom above the target (%)', c => c.headroom * 100, 'pareto_cost_headroom'), true);
    } else {
      pareto.appendChild(el('p', { class: 'note', text: 'No deployment meets the target: no front.' }));
    }

    // --- capacity of every simulated candidate ---
    const cap = section('Capacity against cost', 'Highest request rate each simulated deployment sustains within the SLOs, against its price; the dashed line is the target rate.');
    const simulated = cands.filter(c => c.status === 'meets_target' || c.status === 'below_target');
    chart(cap, {
      title: title('Sustained rate vs cost'), legend: { bottom: 0, type: 'scroll' }, grid: { bottom: 72, left: 72 },
      tooltip: { trigger: 'item', formatter: p => (p.data && p.data.name ? `${p.data.name}<br>$${fmt(p.value[0], 2)}/h, ${fmt(p.value[1], 1)} req/s` : '') },
      xAxis: axis('cost ($ per hour)', { type: 'value', scale: true, nameGap: 28 }), yAxis: axis('sustained rate (req/s)', { type: 'value', nameGap: 48 }),
      series: devices.map((d, i) => ({ name: device(d), type: 'scatter', symbolSize: 9, itemStyle: { color: color(d), opacity: 0.85 },
        data: simulated.filter(c => c.device === d).map(c => ({ value: [c.usd_per_hour, c.max_rate], name: c.candidate })),
        markLine: i === 0 ? { silent: true, symbol: 'none', lineStyle: { color: '#c8443c', type: 'dashed' }, label: { formatter: `target ${fmt(plan.target_rate, 1)} req/s`, position: 'insideEndTop' }, data: [{ yAxis: plan.target_rate }] } : undefined })),
    }, true);

    // --- the ranked table ---
    const counts = {};
    for (const c of cands) counts[c.status] = (counts[c.status] || 0) + 1;
    const STATUS = { meets_target: 'meets the SLOs at the target rate', below_target: 'simulated; sustains less than the target', pruned: 'not simulated: a cheaper replica count of it already meets the target',
      over_limit: 'not simulated: over limits.max_gpus', rejected: 'rejected without simulating (the model does not fit, or an impossible plan)' };
    const rk = section('Ranked deployments', `Deployments meeting the target first (rank 1 = recommended), then the rest by headroom. ${Object.entries(counts).map(([s, n]) => `${n} ${s.replace('_', ' ')}`).join(', ')}.` +
      (data.truncated ? ' Only the first rows of plans.jsonl are shown.' : '') + ' The full table is plans.csv in the folder.');
    // Columns whose value is the same for every candidate are named once in the note instead.
    const COLS = [
      ['rank', c => (c.rank ? String(c.rank) : '–')], ['device', c => device(c.device)], ['TP', c => String(c.tp)], ['PP', c => String(c.pp)],
      ['replicas', c => String(c.replicas)], ['split', c => c.disaggregation], ['tokens/step', c => String(c.max_num_batched_tokens)],
      ['seqs', c => String(c.max_num_seqs)], ['KV dtype', c => c.kv_cache_dtype], ['GPUs', c => String(c.gpus)], ['status', c => c.status.replace('_', ' ')],
      ['$/hour', c => money(c.usd_per_hour)], ['max req/s', c => (c.status === 'meets_target' || c.status === 'below_target' ? fmt(c.max_rate, 1) : '–')],
      ['headroom', c => (c.status === 'meets_target' || c.status === 'below_target' ? pct(c.headroom) : '–')],
      [`${latLabel} (ms)`, c => (c.meets_target ? fmt(latMs(c), 0) : '–')], ['$/M tokens', c => (c.meets_target ? money(c.usd_per_m_output_tokens) : '–')],
      ['Pareto', c => [c.pareto_cost_latency ? 'latency' : '', c.pareto_cost_headroom ? 'headroom' : ''].filter(x => x).join(', ')],
    ];
    const constant = ['PP', 'split', 'tokens/step', 'seqs', 'KV dtype'].filter(h => { const f = COLS.find(c => c[0] === h)[1]; return new Set(cands.map(f)).size === 1; });
    const cols = COLS.filter(c => !constant.includes(c[0]));
    if (constant.length && cands.length) rk.appendChild(el('p', { class: 'note', text: 'Same for every candidate: ' + constant.map(h => `${h} ${COLS.find(c => c[0] === h)[1](cands[0])}`).join(', ') + '.' }));
    const shown = cands.slice(0, Math.max(15, Math.min(meeting.length, 25)));
    rk.appendChild(table(cols.map(c => c[0]), shown.map(c => cols.map(([, f]) => f(c))), 'ranked', shown.map(c => (c.rank === 1 ? 'chosen' : c.meets_target ? '' : 'muted'))));
    if (cands.length > shown.length) rk.appendChild(el('p', { class: 'note', text: `… and ${cands.length - shown.length} more in plans.csv.` }));
    rk.appendChild(el('h3', { text: 'Candidates by outcome' }));
    rk.appendChild(table(['status', 'candidates', 'meaning'], Object.entries(counts).map(([s, n]) => [s.replace('_', ' '), String(n), STATUS[s] || '']), 'kv'));

    // --- how it was searched ---
    const how = section('How the search was run', 'Every candidate is simulated with the same traffic and seed; its sustained rate is found by bisection on simulated runs (docs/plan_search.md).');
    const s = plan.search || {};
    const tr = plan.traffic || {};
    how.appendChild(table(['setting', 'value'], [
      ['model', String(plan.model || '–')], ['target rate', `${fmt(plan.target_rate, 2)} req/s`], ['SLOs', sloText],
      ['traffic', `${tr.arrival || ''}${tr.prompt && tr.prompt.mean ? `; prompt mean ${tr.prompt.mean} tokens, output mean ${tr.output && tr.output.mean} tokens` : ''}`],
      ['requests per simulation', `${s.requests} (bracketing: ${s.short_requests})`], ['rate tolerance', s.tolerance !== undefined ? pct(s.tolerance) : '–'],
      ['seed', String(plan.seed)], ['prices', `${plan.price || ''} (${plan.prices_file || ''})`],
      ['simulations run', fmt(cands.reduce((a, c) => a + (c.simulations || 0), 0), 0)],
    ].map(r => r.map(String)), 'kv'));
    SR.done('Costs are GPUs × the price per GPU-hour; latencies are simulated percentiles at the target rate.');
  }

  if (data.kind === 'sweep') drawSweep(); else drawPlan();
})();
