// Runs the official DTDL parser (DTDLParser for .NET, compiled to WASM) over model sets.
// Usage: node validate.mjs DIR            -> prints {"valid": bool, "errors": [...]}
//        node validate.mjs DIR1 DIR2 ...  -> prints {"DIR1": {...}, "DIR2": {...}} (one WASM start for all)
// Every .json file under a DIR is one document (an interface object or an array of them); all of a
// DIR's documents are parsed together as one model set.
import fs from 'node:fs'
import path from 'node:path'
import { getInterop } from '@digicatapult/dtdl-parser'

const listJson = (dir) => {
  if (!fs.existsSync(dir)) return []
  if (fs.statSync(dir).isFile()) return dir.endsWith('.json') ? [dir] : []
  return fs
    .readdirSync(dir)
    .sort()
    .flatMap((name) => listJson(path.join(dir, name)))
}

const checkFolder = (parser, dir) => {
  const files = listJson(dir)
  if (files.length === 0) return { valid: false, errors: [{ where: dir, message: 'no .json files' }] }
  const docs = []
  for (const file of files) {
    let doc
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf-8'))
    } catch (e) {
      return { valid: false, errors: [{ where: file, message: `invalid JSON: ${e.message}` }] }
    }
    if (Array.isArray(doc)) docs.push(...doc)
    else docs.push(doc)
  }
  try {
    parser.parse(JSON.stringify(docs))
    return { valid: true, errors: [] }
  } catch (e) {
    let info
    try {
      info = JSON.parse(e.message)
    } catch {
      return { valid: false, errors: [{ where: dir, message: String(e && e.message ? e.message : e) }] }
    }
    if (info.ExceptionKind === 'Resolution') {
      return {
        valid: false,
        errors: (info.UndefinedIdentifiers || []).map((id) => ({ where: id, message: 'undefined identifier' })),
      }
    }
    return {
      valid: false,
      errors: (info.Errors || []).map((err) => ({
        where: err.PrimaryID || '',
        property: err.Property || '',
        message: err.Cause,
        validation: err.ValidationID,
      })),
    }
  }
}

const dirs = process.argv.slice(2)
if (dirs.length === 0) {
  process.stderr.write('usage: node validate.mjs DIR [DIR...]\n')
  process.exit(2)
}
// The WASM runtime logs to the console; keep stdout for our JSON only.
const write = process.stdout.write.bind(process.stdout)
console.log = () => {}
console.info = () => {}
const parser = await getInterop()
const results = Object.fromEntries(dirs.map((dir) => [dir, checkFolder(parser, dir)]))
write(JSON.stringify(dirs.length === 1 ? results[dirs[0]] : results) + '\n')
process.exit(0)
