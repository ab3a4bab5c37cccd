#!/usr/bin/env node
// Runs tap with the raw TAP reporter and prints a short report: one line per test
// file, the full output of failing files, tap's coverage summary, and a closing
// "N passed, N failed" line counting assertions — so a run that tested nothing shows.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

const args = ['tap', '--reporter=tap', ...process.argv.slice(2)]
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } })

let passed = 0
let failed = 0
let skipped = 0
let files = 0
let failedFiles = 0
let buffer = []
let inYaml = false
let yamlIndent = 0
let previousIndent = -1
const RESULT = /^(\s*)(not ok|ok) \d+/

const lines = createInterface({ input: child.stdout })
lines.on('line', (line) => {
  const indent = line.length - line.trimStart().length
  if (inYaml) {
    buffer.push(line)
    if (line.trim() === '...' && indent === yamlIndent) inYaml = false
    return
  }
  if (line.trim() === '---') { inYaml = true; yamlIndent = indent; buffer.push(line); return }
  const match = RESULT.exec(line)
  if (match) {
    const closesSubtest = previousIndent > indent
    if (indent === 0) {
      files++
      const ok = match[2] === 'ok'
      if (!ok) { failedFiles++; for (const l of buffer) console.log(l) }
      console.log(line)
      buffer = []
    } else {
      buffer.push(line)
      if (!closesSubtest) {
        if (/# SKIP/i.test(line)) skipped++
        else if (match[2] === 'ok') passed++
        else if (!/# TODO/i.test(line)) failed++
      }
    }
    previousIndent = indent
    return
  }
  if (line.trim() === '') return
  if (indent === 0 && !line.startsWith('# Subtest') && !line.startsWith('TAP version') && !/^1\.\.\d+/.test(line)) console.log(line)
  else buffer.push(line)
  previousIndent = indent
})

child.on('close', (code) => {
  console.log(`\n${files} test files (${failedFiles} failed); ${skipped} assertions skipped`)
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(code !== 0 ? code || 1 : failed > 0 || passed === 0 ? 1 : 0)
})
