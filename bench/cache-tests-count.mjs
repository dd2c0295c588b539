// bench/cache-tests-count.mjs — counts results of the HTTP cache-tests suite
// (the copy vendored in tests/conformance/cache-tests) with the suite's own
// verdicts (test-engine/lib/results.mjs), and sets them beside the caches
// whose results the suite publishes (its results/*.json).
//
// Usage: node cache-tests-count.mjs count SUITEDIR RESULTS.json [FAILED_REQUIRED.txt]
//        node cache-tests-count.mjs table SUITEDIR NAME=COUNTS.json...
// count prints one JSON object: per kind (required / optimal / check) the
// count of each verdict, the total of tests and of `true` results, and
// "passes" (required + optimal passes: the figure cache-tests.fyi's
// summary and issue 17 compare); it writes the ids of failing required tests
// (one a line) to FAILED_REQUIRED.
// table prints one row per target given, then one per published reverse
// proxy or CDN (results/index.mjs), counted the same way.
//
// Why the suite's own code: a test whose dependency did not pass is not a
// failure of that test, a Setup error is not an assertion failure, and the
// kind decides whether a non-true result is a failure (required), a missed
// optimisation (optimal) or a "no" (check). Re-implementing that would drift
// from the published numbers.
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

async function load (suiteDir, rel) {
  return import(pathToFileURL(path.join(suiteDir, rel)).href)
}

async function engine (suiteDir) {
  const suites = (await load(suiteDir, 'tests/index.mjs')).default
  const { determineTestResult, resultTypes } = await load(suiteDir, 'test-engine/lib/results.mjs')
  // A verdict is an [icon, colour, symbol] triple; its key in resultTypes names it.
  const name = v => Object.keys(resultTypes).find(k => resultTypes[k] === v)
  return { suites, determineTestResult, name }
}

function countResults (eng, results, failedRequired) {
  const out = { tests: 0, true: 0, passes: 0, required: {}, optimal: {}, check: {} }
  for (const suite of eng.suites) {
    for (const test of suite.tests) {
      // The runner skips browser-only tests when testing a proxy; so do we.
      if (test.browser_only === true) continue
      const kind = test.kind || 'required'
      const v = eng.name(eng.determineTestResult(eng.suites, test.id, results))
      if (v === undefined) throw new Error(`unknown verdict for ${test.id}`)
      out.tests++
      if (results[test.id] === true) out.true++
      out[kind][v] = (out[kind][v] || 0) + 1
      if (v === 'pass') out.passes++
      if (kind === 'required' && v === 'fail' && failedRequired) failedRequired.push(test.id)
    }
  }
  return out
}

async function count (suiteDir, resultsFile, failedFile) {
  const eng = await engine(suiteDir)
  const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))
  const failed = []
  const out = countResults(eng, results, failed)
  if (failedFile) fs.writeFileSync(failedFile, failed.map(id => id + '\n').join(''))
  console.log(JSON.stringify(out))
}

// passes = required + optimal passes; "req fail" = required failures; "dep"
// = a test it depends on did not pass, so the suite does not judge it;
// "other" = could not be set up, a harness failure, a retry, or not run.
async function table (suiteDir, pairs) {
  const rows = pairs.map(p => {
    const [name, file] = p.split('=')
    return [name, JSON.parse(fs.readFileSync(file, 'utf8'))]
  })
  const eng = await engine(suiteDir)
  const published = (await load(suiteDir, 'results/index.mjs')).default
  for (const r of published) {
    if (r.type === 'browser') continue
    const results = JSON.parse(fs.readFileSync(path.join(suiteDir, 'results', r.file), 'utf8'))
    rows.push([`${r.name} ${r.version} (published)`, countResults(eng, results)])
  }
  const known = ['pass', 'fail', 'optional_fail', 'yes', 'no', 'dependency_fail']
  const other = c => ['required', 'optimal', 'check'].reduce((a, k) =>
    a + Object.keys(c[k]).filter(v => !known.includes(v)).reduce((b, v) => b + c[k][v], 0), 0)
  const cols = [
    ['passes', c => c.passes],
    ['req pass', c => c.required.pass || 0],
    ['req fail', c => c.required.fail || 0],
    ['opt pass', c => c.optimal.pass || 0],
    ['opt fail', c => c.optimal.optional_fail || 0],
    ['check yes', c => c.check.yes || 0],
    ['dep', c => ['required', 'optimal', 'check'].reduce((a, k) => a + (c[k].dependency_fail || 0), 0)],
    ['other', other],
    ['tests', c => c.tests]
  ]
  const w = Math.max(...rows.map(r => r[0].length))
  console.log('target'.padEnd(w) + cols.map(c => c[0].padStart(10)).join(''))
  for (const [name, c] of rows) {
    console.log(name.padEnd(w) + cols.map(col => String(col[1](c)).padStart(10)).join(''))
  }
}

const [mode, ...args] = process.argv.slice(2)
if (mode === 'count' && args.length >= 2) {
  await count(...args)
} else if (mode === 'table' && args.length >= 1) {
  await table(args[0], args.slice(1))
} else {
  console.error('usage: node cache-tests-count.mjs count SUITEDIR RESULTS.json [FAILED.txt]\n' +
    '       node cache-tests-count.mjs table SUITEDIR NAME=COUNTS.json...')
  process.exit(2)
}
