// Browser test of report.html (ctest: report_browser).
//   node tools/report/test_reports.mjs SERVESIM_BIN WORK_DIR [SCREENSHOT_DIR]
// Builds every kind of report with the CLI (a single run with its timeline, a multi-seed run,
// a what-if comparison of two runs, a disaggregated run, a sweep, a plan search), loads each in headless Debian
// chromium through playwright-core (no browser download), and fails on: a console error or
// uncaught exception, any request other than the page itself (the page must open offline),
// a chart that did not render or whose canvas is blank, a missing section. With
// SCREENSHOT_DIR, a full-page screenshot of each kind is written there (docs/report/).
// Run from the repository root (scenario paths are relative to it).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { chromium } = require('playwright-core');

const [bin, work, shots] = process.argv.slice(2);
if (!bin || !work) {
  console.error('usage: node test_reports.mjs SERVESIM_BIN WORK_DIR [SCREENSHOT_DIR]');
  process.exit(2);
}
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const sv = (...args) => execFileSync(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] }).toString();
const at = (...p) => path.join(work, ...p);

// The reports. The default scenario: Llama-3.1-8B on one H100, 5.5 req/s for 10 minutes.
sv('run', '--quiet', '--report', '--timeline', '--timeline-window', '60s:120s', '--out', at('run'));
sv('run', '--quiet', '--seeds', '3', '--set', 'workload.num_requests=1500', '--report', '--out', at('seeds'));
sv('run', '--quiet', '--set', 'scheduler.max_num_seqs=16', '--out', at('s16'));
sv('report', '--quiet', at('run'), at('s16'), '--title', 'What-if: max_num_seqs 256 -> 16', '--out', at('compare.html'));
sv('run', '--quiet', '--scenario', 'tests/golden/scenarios/disagg_1p1d.json', '--report', '--out', at('disagg'));
// A sweep (hardware x rate x batch limit) and a plan search, each reported from its folder.
sv('sweep', '--quiet', 'docs/report/sweep_example.json', '--out', at('sweep'));
sv('report', '--quiet', at('sweep'));
sv('plan', 'search', '--quiet', 'docs/report/plan_example.json', '--out', at('plan'));
sv('report', '--quiet', at('plan'));

const cases = [
  { kind: 'run', file: at('run', 'report.html'), sections: ['Headline numbers', 'Latency', 'Throughput over time', 'Queues and KV cache over time', 'Where step time goes', 'Preemptions and swaps'] },
  { kind: 'seeds', file: at('seeds', 'report.html'), sections: ['Headline numbers', 'Latency', 'Seeds'] },
  { kind: 'compare', file: at('compare.html'), sections: ['Headline numbers', 'Latency', 'Where step time goes'], text: ['change s16'] },
  { kind: 'disagg', file: at('disagg', 'report.html'), sections: ['Pools', 'KV transfers (disaggregated prefill/decode)'] },
  { kind: 'sweep', file: at('sweep', 'report.html'), sections: ['Settings varied', 'Best points', 'Metric vs each setting', 'Every point'] },
  { kind: 'plan', file: at('plan', 'report.html'), sections: ['Recommendation', 'Cost against latency and headroom', 'Capacity against cost', 'Ranked deployments'],
    text: ['Runners-up'] },
];

// The timeline is JSON in the trace-event format (details: tests/report/test_timeline.cpp).
const trace = JSON.parse(readFileSync(at('run', 'timeline.json'), 'utf8'));
if (!Array.isArray(trace.traceEvents) || !trace.traceEvents.some(e => e.ph === 'X')) throw new Error('timeline.json has no step slices');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
let failures = 0;
const fail = (c, msg) => { failures++; console.error(`FAIL ${c.kind}: ${msg}`); };
try {
  for (const c of cases) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const url = pathToFileURL(c.file).href;
    page.on('console', m => { if (m.type() === 'error') fail(c, `console error: ${m.text()}`); });
    page.on('pageerror', e => fail(c, `uncaught: ${e.message}`));
    page.on('request', r => { if (r.url() !== url && !r.url().startsWith('data:')) fail(c, `request to ${r.url()}`); });
    await page.goto(url, { waitUntil: 'load' });
    const expected = Number(await page.getAttribute('body', 'data-charts'));
    if (!(expected > 0)) fail(c, 'no charts drawn (body[data-charts])');
    try {
      await page.waitForFunction(n => document.querySelectorAll('.chart[data-rendered="1"]').length === n, expected, { timeout: 20000 });
    } catch (e) {
      fail(c, `only ${await page.locator('.chart[data-rendered="1"]').count()} of ${expected} charts rendered`);
    }
    // Each chart's canvas has drawn pixels (not blank or white).
    const inked = await page.evaluate(() => [...document.querySelectorAll('.chart')].map(div => {
      const cv = div.querySelector('canvas');
      if (!cv) return 0;
      const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) n++;
      return n;
    }));
    inked.forEach((n, i) => { if (n < 500) fail(c, `chart ${i} looks blank (${n} inked pixels)`); });
    const h2 = await page.$$eval('h2', hs => hs.map(h => h.textContent));
    for (const s of c.sections) if (!h2.includes(s)) fail(c, `section '${s}' missing (have: ${h2.join(', ')})`);
    const body = await page.textContent('body');
    for (const t of c.text || []) if (!body.includes(t)) fail(c, `text '${t}' missing`);
    if (shots) {
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, `${c.kind}.png`), fullPage: true });
    }
    console.log(`${c.kind}: ${expected} charts, all drawn; ${h2.length} sections`);
    await page.close();
  }
} finally {
  await browser.close();
}
if (failures) {
  console.error(`${failures} failure(s)`);
  process.exit(1);
}
console.log('all reports render');
