#!/usr/bin/env node
// Validates CSAF 2.0 documents with @secvisogram/csaf-validator-lib (the BSI's validator):
// the strict CSAF 2.0 JSON schema and every mandatory test (CSAF 2.0 section 6.1).
// usage: csaf_validate.mjs FILE...
//        csaf_validate.mjs --provider-metadata FILE
// Prints one JSON line per file: {"file", "isValid", "errors": [...]}; exits 1 when any is invalid.
//
// The validator lib has no schema for provider-metadata.json; --provider-metadata checks one
// against the rules of the CSAF 2.0 provider metadata JSON schema (section 7.2.1:
// provider_json_schema.json), written out below, with the publisher checked by the lib's own
// CSAF schema (`document.publisher`, which the provider schema refers to).
import fs from 'node:fs'
import validateStrict from '@secvisogram/csaf-validator-lib/validateStrict.js'
import * as mandatory from '@secvisogram/csaf-validator-lib/mandatoryTests.js'
import { csaf_2_0_strict } from '@secvisogram/csaf-validator-lib/schemaTests.js'
import csafSchema from '@secvisogram/csaf-validator-lib/lib/schemaTests/csaf_2_0/schema.js'
// the lib's Ajv instance (draft 2020-12, formats, the CVSS schemas the CSAF schema refers to)
import csafAjv from '@secvisogram/csaf-validator-lib/lib/shared/csafAjv.js'

const args = process.argv.slice(2)
let failed = false

if (args[0] === '--provider-metadata') {
  const ajv = csafAjv
  if (!ajv.getSchema(csafSchema.$id)) ajv.addSchema(csafSchema)
  const url = { type: 'string', format: 'uri' }
  const providerSchema = {
    type: 'object',
    required: [
      'canonical_url',
      'last_updated',
      'list_on_CSAF_aggregators',
      'mirror_on_CSAF_aggregators',
      'metadata_version',
      'publisher',
      'role',
    ],
    properties: {
      canonical_url: { ...url, pattern: '/provider-metadata\\.json$' },
      distributions: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: {
          type: 'object',
          minProperties: 1,
          properties: { directory_url: url },
        },
      },
      last_updated: { type: 'string', format: 'date-time' },
      list_on_CSAF_aggregators: { type: 'boolean' },
      mirror_on_CSAF_aggregators: { type: 'boolean' },
      metadata_version: { enum: ['2.0'] },
      publisher: { $ref: `${csafSchema.$id}#/properties/document/properties/publisher` },
      role: { enum: ['csaf_publisher', 'csaf_provider', 'csaf_trusted_provider'] },
    },
  }
  const validate = ajv.compile(providerSchema)
  for (const file of args.slice(1)) {
    const document = JSON.parse(fs.readFileSync(file, 'utf8'))
    const isValid = validate(document)
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`)
    if (!isValid) failed = true
    console.log(JSON.stringify({ file, isValid, errors }))
  }
  process.exit(failed ? 1 : 0)
}

const tests = [csaf_2_0_strict, ...Object.values(mandatory)]
for (const file of args) {
  const document = JSON.parse(fs.readFileSync(file, 'utf8'))
  const result = await validateStrict(tests, document)
  const errors = result.tests.flatMap((t) =>
    t.errors.map((e) => `${t.name}: ${e.instancePath} ${e.message}`)
  )
  if (!result.isValid) failed = true
  console.log(JSON.stringify({ file, isValid: result.isValid, errors }))
}
process.exit(failed ? 1 : 0)
