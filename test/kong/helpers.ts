// Kong-file tests: write a Kong declarative file, load it the way `npm start` does
// (GATEWAY_CONFIG, env over file), start the gateway on loopback ports.
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { loadConfig, ConfigError } from '../../src/config/index.js'
import { buildGateway, type GatewayDeps } from '../../src/gateway.js'
import type { StartedGateway } from '../helpers.js'

/** writes `yaml` to a temporary file and returns its path */
export function kongFile (t: Test, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kong-'))
  const path = join(dir, 'kong.yaml')
  writeFileSync(path, yaml)
  t.teardown(() => {})
  return path
}

const QUIET = { HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0', ADMIN_HOST: '127.0.0.1', LOG_LEVEL: 'silent' }

/** loadConfig over a Kong file: the config and its warnings, or throws ConfigError */
export function loadKong (t: Test, yaml: string, env: Record<string, string> = {}) {
  return loadConfig({ ...QUIET, ...env, GATEWAY_CONFIG: kongFile(t, yaml) })
}

/** the problems a Kong file stops start-up with ([] when it loads) */
export function kongProblems (t: Test, yaml: string, env: Record<string, string> = {}): readonly string[] {
  try {
    loadKong(t, yaml, env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

export async function startKongGateway (t: Test, yaml: string, env: Record<string, string> = {}, deps: GatewayDeps = {}): Promise<StartedGateway & { warnings: string[] }> {
  const { config, warnings } = loadKong(t, yaml, env)
  const gateway = await buildGateway(config, deps)
  t.teardown(() => gateway.close())
  const { publicUrl, adminUrl } = await gateway.listen()
  return Object.assign(gateway, { url: publicUrl, adminUrl, warnings })
}
