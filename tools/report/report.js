// servesim report.html: draws the document of sim/report/report_data.h with Apache ECharts.
// Inlined into the page by `servesim report` / `servesim run --report`; loads nothing.
(function () {
  'use strict';
  const { data, el, fmt, mean, get, section, table, chart, axis, title } = SR;
  if (!['run', 'seeds', 'compare'].includes(data.kind)) return;  // sweeps and plan searches: report_search.js
  const sets = data.sets;
  const OP_CLASSES = ['gemm', 'attention_prefill', 'attention_decode', 'elementwise', 'collective', 'copy', 'page_map', 'cpu'];
  const OP_LABEL = { gemm: 'GEMM', attention_prefill: 'attention (prefill)', attention_decode: 'attention (decode)', elementwise: 'element-wise',
    collective: 'collectives', copy: 'copies (swap, offload)', page_map: 'page mapping', cpu: 'CPU / launch' };

  // --- helpers on result sets ----------------------------------------------------------------
  // Mean over a set's seeds of a summary value; with several seeds also min and max.
  function seedStat(set, path, scale) {
    const xs = set.summaries.map(s => get(s, path)).filter(v => typeof v === 'number').map(v => v * (scale || 1));
    return { mean: mean(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
  }
  const multi = sets.length > 1;
  const label = set => set.label || set.dir;
  const cfg = set => set.resolved_config || {};

  // --- scenario description ---------------------------------------------------------------
  function describeWorkload(w) {
    if (!w) return '–';
    let s = w.impl || '';
    if (w.rate !== undefined) s += `, ${w.rate} req/s`;
    if (w.arrival) s += ` (${w.arrival})`;
    if (w.num_requests) s += `, ${w.num_requests} requests`;
    if (w.duration) s += `, up to ${w.duration}`;
    if (w.path) s += `, trace ${w.path}`;
    if (w.prompt && w.prompt.mean) s += `; prompt mean ${w.prompt.mean} tokens, output mean ${w.output && w.output.mean} tokens`;
    return s;
  }
  function describePools(c) {
    return (c.pools || []).map(p => {
      const par = p.parallel || {};
      return `${p.name} (${p.role}): ${p.replicas} × ${p.hardware}, ${p.model}, TP ${par.tp || 1}` + (par.pp > 1 ? ` PP ${par.pp}` : '') +
        `, scheduler ${get(p, ['scheduler', 'impl'])}, KV ${get(p, ['kv', 'impl'])}, cost model ${get(p, ['cost', 'impl'])}`;
    }).join('; ');
  }
  function describeSlo(c) {
    const s = get(c, ['metrics', 'slo']) || {};
    const parts = Object.keys(s).filter(k => !/^0(\.0+)? ?[a-z]*s$/.test(String(s[k]))).map(k => `${k.toUpperCase()} ≤ ${s[k]}`);
    return parts.length ? parts.join(', ') : 'none given (goodput = throughput)';
  }

  // --- page ------------------------------------------------------------------------------
  const names = [...new Set(sets.map(s => s.summaries[0].scenario || label(s)))];
  const kindText = { run: 'single run', seeds: `${sets[0].summaries.length} seeds of one scenario`, compare: `what-if comparison of ${sets.length} runs` }[data.kind];
  SR.header(data.title || `Capacity report: ${names.join(' vs ')}`, `servesim simulation — ${kindText}. Latencies in milliseconds unless marked.`);

  const scen = section('Scenario', multi ? 'Each column is one result folder; the first is the reference the changes are measured against.' : null);
  const scenRows = [
    ['result folder', ...sets.map(label)],
    ['model', ...sets.map(s => s.summaries[0].model)],
    ['hardware', ...sets.map(s => s.summaries[0].hardware)],
    ['pools', ...sets.map(s => describePools(cfg(s)))],
    ['router', ...sets.map(s => get(cfg(s), ['router', 'impl']) || '–')],
    ['workload', ...sets.map(s => describeWorkload(cfg(s).workload))],
    ['SLOs (goodput)', ...sets.map(s => describeSlo(cfg(s)))],
    ...(multi ? [['changes from the reference', ...sets.map((s, i) => (i === 0 ? '(reference)' : (s.config_changes || []).join('; ') || 'none'))]] : []),
    ['seed(s)', ...sets.map(s => s.seeds.join(', '))],
    ['simulated time', ...sets.map(s => fmt(seedStat(s, ['simulated_time_s']).mean, 1) + ' s')],
  ];
  const st = el('table');
  for (const r of scenRows) st.appendChild(el('tr', {}, [el('th', { text: r[0] }), ...r.slice(1).map(v => el('td', { class: 'text', text: String(v) }))]));
  scen.appendChild(el('div', { class: 'scroll' }, [st]));

  // --- headline numbers --------------------------------------------------------------------
  // [label, getter(set) -> {mean,min,max}, digits, better ('up'|'down'|null)]
  const pct = (fam, p) => set => { const v = get(set, ['percentiles_ms', fam, p]); return { mean: v, min: v, max: v, n: 1 }; };
  const headline = [
    ['completed requests', s => seedStat(s, ['requests', 'completed']), 0, 'up'],
    ['throughput (req/s)', s => seedStat(s, ['throughput', 'requests_per_s']), 2, 'up'],
    ['output throughput (tokens/s)', s => seedStat(s, ['throughput', 'output_tokens_per_s']), 0, 'up'],
    ['goodput (req/s meeting every SLO)', s => seedStat(s, ['goodput', 'requests_per_s']), 2, 'up'],
    ['requests meeting every SLO (%)', s => seedStat(s, ['goodput', 'fraction'], 100), 1, 'up'],
    ['TTFT p50 (ms)', pct('ttft', 'p50'), undefined, 'down'],
    ['TTFT p99 (ms)', pct('ttft', 'p99'), undefined, 'down'],
    ['TPOT p50 (ms)', pct('tpot', 'p50'), undefined, 'down'],
    ['TPOT p99 (ms)', pct('tpot', 'p99'), undefined, 'down'],
    ['ITL p99 (ms)', s => seedStat(s, ['itl_s', 'p99'], 1e3), undefined, 'down'],
    ['E2E p99 (ms)', pct('e2e', 'p99'), undefined, 'down'],
    ['queueing p99 (ms)', pct('queueing', 'p99'), undefined, 'down'],
    ['preemptions', s => seedStat(s, ['requests', 'preemptions']), 0, 'down'],
    ['KV cache use, mean (%)', s => seedStat(s, ['kv_utilization', 'mean'], 100), 1, null],
    ['KV cache use, p99 (%)', s => seedStat(s, ['kv_utilization', 'p99'], 100), 1, null],
    ['GPU energy per output token (J)', s => seedStat(s, ['energy', 'j_per_output_token']), 3, 'down'],
    ['mean GPU power, all GPUs (W)', s => seedStat(s, ['energy', 'mean_power_w']), 0, null],
    ['cost per million output tokens ($, on-demand)', s => seedStat(s, ['cost', 'usd_per_million_output_tokens']), 3, 'down'],
  ];
  const hs = section('Headline numbers', data.kind === 'seeds' ? 'Per-request percentiles pool the requests of every seed; run-level numbers are the mean over the seeds, with their range.' :
    multi ? 'Change against the reference (first column): green is better, red is worse.' : null);
  const hHeader = ['metric', ...sets.map(label)];
  if (multi) sets.slice(1).forEach(s => hHeader.push(`change ${label(s)}`));
  const hRows = headline.map(([name, f, digits, better]) => {
    const vals = sets.map(f);
    const row = [name, ...vals.map(v => {
      const span = el('span', { class: 'value', text: fmt(v.mean, digits) });
      if (v.n > 1 && v.max > v.min) span.appendChild(el('span', { class: 'note', text: ` (${fmt(v.min, digits)}–${fmt(v.max, digits)})` }));
      return span;
    })];
    if (multi) {
      for (const v of vals.slice(1)) {
        const base = vals[0].mean;
        const d = base ? (v.mean - base) / Math.abs(base) * 100 : NaN;
        const cls = !better || !Number.isFinite(d) || Math.abs(d) < 0.05 ? '' : (d > 0) === (better === 'up') ? 'delta-good' : 'delta-bad';
        row.push(el('span', { class: cls, text: Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${fmt(d, 1)} %` : '–' }));
      }
    }
    return row;
  });
  hs.appendChild(table(hHeader, hRows, 'headline'));

  // --- latency ---------------------------------------------------------------------------
  const lat = section('Latency', 'Cumulative distribution over completed requests: the share of requests (y) served within a latency (x). ' +
    'TTFT = first token − arrival; TPOT = (last − first token) / (output tokens − 1); E2E = last token − arrival; queueing = first scheduled − arrival.');
  const grid = el('div', { class: 'grid' });
  lat.appendChild(grid);
  const FAMILIES = [['ttft', 'Time to first token (TTFT)'], ['tpot', 'Time per output token (TPOT)'], ['e2e', 'End-to-end latency (E2E)'], ['queueing', 'Queueing delay']];
  for (const [fam, name] of FAMILIES) {
    const series = sets.filter(s => s.cdf_ms[fam]).map(s => ({ name: label(s), type: 'line', showSymbol: false, step: 'end', data: s.cdf_ms[fam].map(([x, y]) => [x, y * 100]) }));
    if (!series.length) continue;
    // Log scale when the values span more than a factor of 20 (and none is zero); else a
    // linear axis fitted to the data.
    const lo = Math.min(...sets.filter(s => s.cdf_ms[fam]).map(s => s.cdf_ms[fam][0][0]));
    const hi = Math.max(...sets.filter(s => s.cdf_ms[fam]).map(s => s.cdf_ms[fam][s.cdf_ms[fam].length - 1][0]));
    const positive = lo > 0 && hi / lo > 20;
    chart(grid, {
      title: title(name), legend: { bottom: 0, show: multi }, grid: { bottom: multi ? 64 : 48 },
      tooltip: { trigger: 'axis', valueFormatter: v => fmt(v, 1) },
      xAxis: axis(`${fam === 'queueing' ? 'queueing' : fam.toUpperCase()} (ms${positive ? ', log scale' : ''})`, positive ? { type: 'log', nameGap: 28 } : { type: 'value', scale: true, nameGap: 28 }),
      yAxis: axis('requests within (%)', { type: 'value', min: 0, max: 100, nameGap: 40 }), series: series,
    });
  }
  const pRows = [];
  for (const s of sets) {
    for (const [fam, name] of FAMILIES) {
      const p = get(s, ['percentiles_ms', fam]);
      if (p) pRows.push([...(multi ? [label(s)] : []), name, fmt(p.mean), fmt(p.p50), fmt(p.p90), fmt(p.p99), fmt(p.max), fmt(p.count, 0)]);
    }
    const itl = s.summaries[0].itl_s;
    if (itl) {
      const m = k => mean(s.summaries.map(x => x.itl_s[k] * 1e3));
      pRows.push([...(multi ? [label(s)] : []), 'Inter-token latency (ITL, every gap)', fmt(m('mean')), fmt(m('p50')), fmt(m('p90')), fmt(m('p99')), fmt(m('max')), fmt(mean(s.summaries.map(x => x.itl_s.count)), 0)]);
    }
  }
  lat.appendChild(el('h3', { text: 'Percentiles (ms)' }));
  lat.appendChild(table([...(multi ? ['run'] : []), 'metric', 'mean', 'p50', 'p90', 'p99', 'max', 'count'], pRows));

  // --- throughput ------------------------------------------------------------------------
  const thr = section('Throughput over time', `Output tokens per second of the requests completing in each ${fmt(sets[0].completions.bin_s, 0)}-second bin` +
    (sets.some(s => s.summaries.length > 1) ? ' (mean over the seeds).' : '.'));
  chart(thr, {
    title: title('Output throughput'), legend: { bottom: 0, show: multi }, grid: { bottom: multi ? 64 : 48 },
    tooltip: { trigger: 'axis', valueFormatter: v => fmt(v, 0) },
    xAxis: axis('simulated time (s)', { type: 'value', max: 'dataMax' }), yAxis: axis('output tokens/s', { type: 'value', nameGap: 48 }), grid: { left: 72, bottom: multi ? 64 : 48 },
    series: sets.map(s => ({ name: label(s), type: 'line', showSymbol: false, step: 'start', data: s.completions.t.map((t, i) => [t, s.completions.output_tokens_per_s[i]]) })),
  }, true);

  // --- queues and KV use over time --------------------------------------------------------
  const ts = section('Queues and KV cache over time', 'Requests waiting to be scheduled and KV cache in use, sampled every metrics.sample_interval' +
    (data.kind === 'seeds' ? ' (first seed)' : '') + '. Thin lines: replicas; thick line: the pool (sum of waiting; KV used over capacity).');
  function poolSeries(set) {
    const pools = {};
    for (const r of set.timeseries) (pools[r.pool || 'default'] = pools[r.pool || 'default'] || []).push(r);
    return pools;
  }
  function poolTotal(reps, f) {
    const t = reps[0].t;
    return t.map((x, i) => [x, f(reps, i)]);
  }
  const waitSum = (reps, i) => reps.reduce((a, r) => a + (r.waiting[i] || 0), 0);
  const kvPct = (reps, i) => { const u = reps.reduce((a, r) => a + (r.kv_used_tokens[i] || 0), 0), c = reps.reduce((a, r) => a + (r.kv_capacity_tokens[i] || 0), 0); return c ? u / c * 100 : 0; };
  const tsGrid = el('div', { class: 'grid' });
  ts.appendChild(tsGrid);
  const shown = multi ? sets : [sets[0]];
  for (const [metric, yname, perRep, total] of [['waiting', 'requests waiting', r => r.waiting, waitSum], ['kv', 'KV cache in use (%)', r => r.kv_used_tokens.map((u, i) => r.kv_capacity_tokens[i] ? u / r.kv_capacity_tokens[i] * 100 : 0), kvPct]]) {
    const series = [];
    for (const s of shown) {
      const pools = poolSeries(s);
      for (const pool of Object.keys(pools)) {
        const reps = pools[pool];
        const prefix = (multi ? label(s) + ' · ' : '') + (Object.keys(pools).length > 1 || multi ? `pool ${pool}` : 'all replicas');
        series.push({ name: prefix, type: 'line', showSymbol: false, lineStyle: { width: 2.5 }, data: poolTotal(reps, total) });
        if (!multi && reps.length > 1 && reps.length <= 16) {
          for (const r of reps) series.push({ name: `replica ${r.replica}`, type: 'line', showSymbol: false, lineStyle: { width: 1, opacity: 0.6 }, data: r.t.map((t, i) => [t, perRep(r)[i]]) });
        }
      }
    }
    if (!series.length) continue;
    chart(tsGrid, {
      title: title(metric === 'waiting' ? 'Queue length' : 'KV cache use'), legend: { bottom: 0, type: 'scroll' }, grid: { bottom: 64 },
      tooltip: { trigger: 'axis', valueFormatter: v => fmt(v, metric === 'waiting' ? 0 : 1) },
      xAxis: axis('simulated time (s)', { type: 'value', max: 'dataMax' }), yAxis: axis(yname, Object.assign({ type: 'value', nameGap: 44 }, metric === 'kv' ? { min: 0, max: 100 } : { minInterval: 1 })), series: series,
    });
  }
  if (!sets.some(s => s.timeseries.length)) ts.appendChild(el('p', { class: 'note', text: 'No timeseries.csv in the result folder(s).' }));

  // --- step time ------------------------------------------------------------------------
  const stp = section('Where step time goes', 'Operator time summed over every step of every replica, by operator class, and by the cost model that priced it. ' +
    'Roofline answers are analytic (uncalibrated); "derived" profiles were scaled from another device\'s measurements; "fit" answers come from kernels measured on this device.');
  const stGrid = el('div', { class: 'grid' });
  stp.appendChild(stGrid);
  chart(stGrid, {
    title: title('Step time by operator class'), legend: { bottom: 0, show: multi }, grid: { left: 150, bottom: multi ? 64 : 48 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: v => fmt(v, 2) + ' s' },
    yAxis: { type: 'category', data: OP_CLASSES.map(c => OP_LABEL[c]), inverse: true },
    xAxis: axis('simulated seconds (summed over replicas)', { type: 'value' }),
    series: sets.map(s => ({ name: label(s), type: 'bar', data: OP_CLASSES.map(c => mean(s.summaries.map(x => get(x, ['step_time_by_op_class_s', c]) || 0))) })),
  });
  function sourceStatus(src) {
    if (src === 'roofline') return ['uncalibrated', 'uncalibrated (analytic roofline)'];
    if (src.startsWith('derived')) return ['derived', 'derived from another device'];
    if (src.startsWith('fit')) return ['measured', 'fitted to measurements'];
    return ['derived', 'engine profile / other'];
  }
  const srcs = [...new Set(sets.flatMap(s => Object.keys(s.summaries[0].step_time_by_cost_model_s || {})))].sort();
  chart(stGrid, {
    title: title('Step time by cost model'), legend: { bottom: 0, show: multi }, grid: { left: 150, bottom: multi ? 64 : 48 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: v => fmt(v, 2) + ' s' },
    yAxis: { type: 'category', data: srcs.map(s => (s.length > 22 ? s.slice(0, 20) + '…' : s)), inverse: true },
    xAxis: axis('simulated seconds', { type: 'value' }),
    series: sets.map(s => ({ name: label(s), type: 'bar', data: srcs.map(k => mean(s.summaries.map(x => get(x, ['step_time_by_cost_model_s', k]) || 0))) })),
  });
  const srcRows = [];
  for (const s of sets) {
    const by = {};  // mean over the seeds, as in the chart
    for (const x of s.summaries) for (const [k, v] of Object.entries(x.step_time_by_cost_model_s || {})) by[k] = (by[k] || 0) + v / s.summaries.length;
    const total = Object.values(by).reduce((a, b) => a + b, 0);
    for (const k of Object.keys(by).sort()) {
      const [cls, text] = sourceStatus(k);
      srcRows.push([...(multi ? [label(s)] : []), k, el('span', { class: 'badge ' + cls, text: text }), fmt(by[k], 2), fmt(total ? by[k] / total * 100 : 0, 1)]);
    }
  }
  stp.appendChild(table([...(multi ? ['run'] : []), 'cost model (source)', 'status', 'seconds' + (sets.some(s => s.summaries.length > 1) ? ' (mean over seeds)' : ''), 'share (%)'], srcRows));

  // --- pools ---------------------------------------------------------------------------
  if (sets.some(s => (s.summaries[0].pools || []).length > 1)) {
    const ps = section('Pools', 'Per pool: requests that entered there (their TTFT) and that finished there (their TPOT).');
    const rows = [];
    for (const s of sets) {
      for (const p of s.summaries[0].pools || []) {
        const p99 = x => (x && x.count ? fmt(x.p99 * 1e3) : '–');
        rows.push([...(multi ? [label(s)] : []), p.name, p.role, `${p.replicas} × ${p.hardware}, TP ${p.tp}`, fmt(p.busy_fraction * 100, 1), fmt(p.mean_batch_seqs, 1),
          fmt(p.kv_capacity_tokens, 0), p99(p.ttft_s_of_entered), p99(p.tpot_s_of_finished), fmt((p.kv_sent_bytes || 0) / 1e9, 1), fmt((p.kv_received_bytes || 0) / 1e9, 1)]);
      }
    }
    ps.appendChild(table([...(multi ? ['run'] : []), 'pool', 'role', 'replicas', 'busy %', 'batch (seqs)', 'KV tokens/replica', 'TTFT p99 (ms)', 'TPOT p99 (ms)', 'KV sent (GB)', 'KV recv. (GB)'], rows));
  }

  // --- preemptions ---------------------------------------------------------------------
  const pre = section('Preemptions and swaps', 'A preempted request is stopped to free KV cache and restarts later (recompute) or is swapped to host memory; it keeps one record.');
  pre.appendChild(table(['run', 'preemptions', 'preempted requests', 'by recompute', 'by swap', 'swapped (GB)', 'swap time on the critical path (s)'], sets.map(s => {
    const kv = s.summaries[0].kv || [];
    const sum = k => kv.reduce((a, r) => a + (r[k] || 0), 0);
    return [label(s), fmt(seedStat(s, ['requests', 'preemptions']).mean, 0), fmt(seedStat(s, ['requests', 'preempted_requests']).mean, 0), fmt(sum('preemptions_recompute'), 0),
      fmt(sum('preemptions_swap'), 0), fmt((sum('swap_in_bytes') + sum('swap_out_bytes')) / 1e9, 2), fmt(s.summaries[0].kv_swap_s || 0, 3)];
  })));
  if (sets.some(s => s.timeseries.some(r => r.preemptions.some(v => v > 0)))) {
    const series = [];
    for (const s of shown) {
      for (const [pool, reps] of Object.entries(poolSeries(s))) {
        series.push({ name: (multi ? label(s) + ' · ' : '') + `pool ${pool}`, type: 'line', showSymbol: false, data: poolTotal(reps, (rs, i) => rs.reduce((a, r) => a + (r.preemptions[i] || 0), 0)) });
      }
    }
    chart(pre, {
      title: title('Preemptions so far (cumulative)'), legend: { bottom: 0, type: 'scroll' }, grid: { bottom: 64 },
      xAxis: axis('simulated time (s)', { type: 'value', max: 'dataMax' }), yAxis: axis('preemptions', { type: 'value', nameGap: 44, minInterval: 1 }), series: series,
    }, true);
  }

  // --- KV transfers --------------------------------------------------------------------
  if (sets.some(s => s.summaries[0].kv_transfer)) {
    const kt = section('KV transfers (disaggregated prefill/decode)', 'Hand-off time: from the prompt\'s end on the prefill replica to the request joining a decode replica ' +
      '(waiting for decode KV room, then the copy over the link). It is part of TTFT.');
    kt.appendChild(table(['run', 'requests handed off', 'hand-off mean (ms)', 'p50 (ms)', 'p99 (ms)', 'KV per request, mean (MB)', 'p99 (MB)'], sets.filter(s => s.summaries[0].kv_transfer).map(s => {
      const k = s.summaries[0].kv_transfer;
      return [label(s), fmt(k.requests, 0), fmt(k.time_s.mean * 1e3), fmt(k.time_s.p50 * 1e3), fmt(k.time_s.p99 * 1e3), fmt(k.bytes.mean / 1e6, 1), fmt(k.bytes.p99 / 1e6, 1)];
    })));
    const series = sets.filter(s => s.cdf_ms.kv_transfer).map(s => ({ name: label(s), type: 'line', showSymbol: false, step: 'end', data: s.cdf_ms.kv_transfer.map(([x, y]) => [x, y * 100]) }));
    if (series.length) {
      chart(kt, {
        title: title('KV hand-off time'), legend: { bottom: 0, show: multi }, grid: { bottom: multi ? 64 : 48 },
        xAxis: axis('hand-off time (ms)', { type: 'value' }), yAxis: axis('requests within (%)', { type: 'value', min: 0, max: 100, nameGap: 40 }), series: series,
      }, true);
    }
  }

  // --- seeds -----------------------------------------------------------------------------
  if (sets.some(s => s.summaries.length > 1)) {
    const sd = section('Seeds', 'One seed is one sample of traffic; the spread across seeds is the noise a comparison must beat.');
    const rows = [];
    for (const s of sets) {
      s.summaries.forEach((x, i) => rows.push([...(multi ? [label(s)] : []), s.seeds[i], fmt(x.requests.completed, 0), fmt(x.ttft_s.p50 * 1e3), fmt(x.ttft_s.p99 * 1e3),
        fmt(x.tpot_s.p99 * 1e3), fmt(x.e2e_s.p99 * 1e3), fmt(x.throughput.output_tokens_per_s, 0), fmt(x.requests.preemptions, 0)]));
    }
    sd.appendChild(table([...(multi ? ['run'] : []), 'seed', 'completed', 'TTFT p50 (ms)', 'TTFT p99 (ms)', 'TPOT p99 (ms)', 'E2E p99 (ms)', 'output tokens/s', 'preemptions'], rows));
  }

  // --- further tables (sweeps, plan searches) ---------------------------------------------
  for (const s of sets) {
    for (const x of s.extras || []) {
      const ex = section(`${x.file} (${label(s)})`, `The first ${x.rows.length} rows of ${x.file}.`);
      ex.appendChild(table(x.header, x.rows));
    }
  }

  SR.done('Percentiles interpolate linearly between ranks; ITL percentiles come from a log-linear histogram (< 0.1 % bucket width).');
})();
