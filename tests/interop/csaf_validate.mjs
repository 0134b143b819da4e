#!/usr/bin/env node
// Validates CSAF 2.0 documents with @secvisogram/csaf-validator-lib (the BSI's validator):
// the strict CSAF 2.0 JSON schema and every mandatory test (CSAF 2.0 section 6.1).
// usage: csaf_validate.mjs FILE...
// Prints one JSON line per file: {"file", "isValid", "errors": [...]}; exits 1 when any is invalid.
import fs from 'node:fs'
import validateStrict from '@secvisogram/csaf-validator-lib/validateStrict.js'
import * as mandatory from '@secvisogram/csaf-validator-lib/mandatoryTests.js'
import { csaf_2_0_strict } from '@secvisogram/csaf-validator-lib/schemaTests.js'

const tests = [csaf_2_0_strict, ...Object.values(mandatory)]
let failed = false
for (const file of process.argv.slice(2)) {
  const document = JSON.parse(fs.readFileSync(file, 'utf8'))
  const result = await validateStrict(tests, document)
  const errors = result.tests.flatMap((t) =>
    t.errors.map((e) => `${t.name}: ${e.instancePath} ${e.message}`)
  )
  if (!result.isValid) failed = true
  console.log(JSON.stringify({ file, isValid: result.isValid, errors }))
}
process.exit(failed ? 1 : 0)
