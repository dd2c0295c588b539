// bench/cache-tests-count.mjs — counts one results.json of the HTTP
// cache-tests suite the way the suite itself judges each result.
//
// Usage: node cache-tests-count.mjs count PKGDIR RESULTS.json [FAILED_REQUIRED.txt]
//        node cache-tests-count.mjs table NAME=COUNTS.json...
//   PKGDIR: the installed http-cache-tests package (its tests/ and lib/).
// count prints one JSON object: per kind (required / optimal / check) the
// counts of each verdict, plus total tests and total `true` results, and
// writes the ids of failing required tests (one a line) to FAILED_REQUIRED.
// table prints those objects side by side, one row per target.
//
// Why the suite's own code: a test whose dependency did not pass is not a
// failure of that test (display.mjs's dependency_fail), a Setup error is not
// an assertion failure, and the kind decides whether a non-true result is a
// failure (required), a missed optimisation (optimal) or a "no" (check).
// Re-implementing that would drift from the published cache-tests.fyi numbers.
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

// display.mjs's verdicts are [icon, colour, symbol]; the symbol names them.
const verdictName = {
  '✅': 'pass',
  '⛔️': 'fail',
  '⚠️': 'optional_fail',
  Y: 'yes',
  N: 'no',
  '🔹': 'setup_fail',
  '⁉️': 'harness_fail',
  '⚪️': 'dependency_fail',
  '↻': 'retry',
  '-': 'untested'
}

async function count (pkgDir, resultsFile, failedFile) {
  const load = rel => import(pathToFileURL(path.join(pkgDir, rel)).href)
  const suites = (await load('tests/index.mjs')).default
  // cli.mjs runs these too (pushed onto the same list), so they are counted.
  suites.push((await load('tests/surrogate-control.mjs')).default)
  const display = await load('lib/display.mjs')
  const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))

  const out = { tests: 0, true: 0, required: {}, optimal: {}, check: {} }
  const failedRequired = []
  for (const suite of suites) {
    for (const test of suite.tests) {
      // The runner skips browser-only tests when testing a proxy; so do we.
      if (test.browser_only === true) continue
      const kind = test.kind || 'required'
      const v = display.determineTestResult(suites, test.id, results)
      const name = verdictName[v[2]]
      if (name === undefined) throw new Error(`unknown verdict ${v} for ${test.id}`)
      out.tests++
      if (results[test.id] === true) out.true++
      out[kind][name] = (out[kind][name] || 0) + 1
      if (kind === 'required' && name === 'fail') failedRequired.push(test.id)
    }
  }
  if (failedFile) fs.writeFileSync(failedFile, failedRequired.map(id => id + '\n').join(''))
  console.log(JSON.stringify(out))
}

// One row per target. "dep" = a test it depends on did not pass, so the
// suite does not judge it; "other" = could not be set up (a precondition
// such as storing did not hold), a harness failure, or not run.
function table (pairs) {
  const cols = [
    ['required', 'pass', ['pass']], ['', 'fail', ['fail']],
    ['', 'dep', ['dependency_fail']], ['', 'other', null],
    ['optimal', 'pass', ['pass']], ['', 'fail', ['optional_fail']],
    ['', 'dep', ['dependency_fail']], ['', 'other', null],
    ['check', 'yes', ['yes']], ['', 'no', ['no']],
    ['', 'dep', ['dependency_fail']], ['', 'other', null]
  ]
  const known = { required: ['pass', 'fail', 'dependency_fail'],
    optimal: ['pass', 'optional_fail', 'dependency_fail'],
    check: ['yes', 'no', 'dependency_fail'] }
  const pad = (v, n) => String(v).padStart(n)
  let kind = ''
  const h1 = ['target    '].concat(cols.map(c => pad(c[0], 8)), ['', ''])
  const h2 = ['          '].concat(cols.map(c => pad(c[1], 8)), [pad('tests', 6), pad('true', 6)])
  console.log(h1.join('').trimEnd())
  console.log(h2.join(''))
  for (const pair of pairs) {
    const [name, file] = pair.split('=')
    const c = JSON.parse(fs.readFileSync(file, 'utf8'))
    const row = [name.padEnd(10)]
    for (const [k, , verdicts] of cols) {
      if (k) kind = k
      const counts = c[kind]
      const n = verdicts
        ? verdicts.reduce((a, v) => a + (counts[v] || 0), 0)
        : Object.keys(counts).filter(v => !known[kind].includes(v))
          .reduce((a, v) => a + counts[v], 0)
      row.push(pad(n, 8))
    }
    row.push(pad(c.tests, 6), pad(c.true, 6))
    console.log(row.join(''))
  }
}

const [mode, ...args] = process.argv.slice(2)
if (mode === 'count' && args.length >= 2) {
  await count(...args)
} else if (mode === 'table' && args.length >= 1) {
  table(args)
} else {
  console.error('usage: node cache-tests-count.mjs count PKGDIR RESULTS.json [FAILED.txt]\n' +
    '       node cache-tests-count.mjs table NAME=COUNTS.json...')
  process.exit(2)
}
