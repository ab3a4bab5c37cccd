// Kong consumers and their credentials (keyauth_credentials, jwt_secrets, acls),
// nested or top-level → the gateway's consumers. API keys are hashed as they are read.
import { createHash } from 'node:crypto'
import { checkFields, isObj, list, preview, refOf, type KongReport, type Obj } from './report.js'

const CONSUMER_ID = /^[\x21-\x7E][\x20-\x7E]{0,255}$/
const ROLE = /^[A-Za-z0-9_.:/@-]{1,64}$/

interface Consumers { list: Obj[], byRef: Map<string, string> }

export function translateConsumers (report: KongReport, doc: Obj, collectPlugins: (value: unknown, path: string, scope: { consumer: string }) => void): Consumers {
  const byRef = new Map<string, string>()
  const entries: Array<{ consumer: Obj, at: string }> = []
  const ids = new Set<string>()
  list(report, doc.consumers, 'consumers').forEach((c, i) => {
    const at = `consumers[${i}]`
    if (!isObj(c)) { report.invalid(at, `expected a consumer object, got ${preview(c)}`); return }
    checkFields(report, c, at, ['username', 'custom_id', 'keyauth_credentials', 'jwt_secrets', 'acls', 'plugins'])
    const ref = [c.id, c.username, c.custom_id].find((v): v is string => typeof v === 'string' && v !== '')
    if (ref === undefined) { report.invalid(at, 'a consumer needs a username or custom_id'); return }
    if (!CONSUMER_ID.test(ref)) { report.invalid(at, `the consumer's id ${preview(ref)} must be printable ASCII of at most 256 characters`); return }
    if (ids.has(ref)) { report.invalid(at, `a second consumer ${preview(ref)}`); return }
    ids.add(ref)
    const consumer: Obj = { id: ref, tier: 'authenticated', roles: [], apiKeys: [], jwtSecrets: [] }
    if (typeof c.username === 'string') { consumer.username = c.username; byRef.set(c.username, ref) }
    if (typeof c.custom_id === 'string') { consumer.customId = c.custom_id; byRef.set(c.custom_id, ref) }
    if (typeof c.id === 'string') byRef.set(c.id, ref)
    entries.push({ consumer, at })
    addCredentials(consumer, c, at)
    collectPlugins(c.plugins, `${at}.plugins`, { consumer: ref })
  })
  const find = (value: unknown) => { const ref = refOf(value); return ref === undefined ? undefined : entries.find((e) => e.consumer.id === byRef.get(ref))?.consumer }
  for (const kind of ['keyauth_credentials', 'jwt_secrets', 'acls'] as const) {
    list(report, doc[kind], kind).forEach((cred, i) => {
      const at = `${kind}[${i}]`
      const consumer = isObj(cred) ? find(cred.consumer) : undefined
      if (!isObj(cred) || consumer === undefined) { report.invalid(`${at}.consumer`, 'expected a reference to a consumer in this file (username or id)'); return }
      addCredentials(consumer, { [kind]: [cred] }, at, true)
    })
  }
  const keyOwners = new Map<string, string>()
  for (const { consumer } of entries) {
    for (const entry of consumer.apiKeys as Array<{ hash: string, id: string } | string>) {
      const hash = typeof entry === 'string' ? entry : entry.hash
      const owner = keyOwners.get(hash)
      if (owner !== undefined) report.invalid(`consumers (${String(consumer.id)})`, `an API key also given to consumer ${owner} (the key is not shown)`)
      keyOwners.set(hash, String(consumer.id))
    }
  }
  return { list: entries.map((e) => e.consumer), byRef }

  function addCredentials (consumer: Obj, c: Obj, at: string, topLevel = false): void {
    const path = (kind: string, k: number) => (topLevel ? at : `${at}.${kind}[${k}]`)
    list(report, c.keyauth_credentials, `${at}.keyauth_credentials`).forEach((k, n) => {
      const p = path('keyauth_credentials', n)
      if (!isObj(k) || typeof k.key !== 'string' || k.key === '') { report.invalid(`${p}.key`, 'a key-auth credential needs a key'); return }
      checkFields(report, k, p, ['key', 'consumer'], { ttl: null })
      if (!/^[\x21-\x7E]{1,256}$/.test(k.key)) { report.invalid(`${p}.key`, 'an API key must be printable ASCII of at most 256 characters (the key is not shown)'); return }
      // hashed here: the plaintext goes no further than this line
      const hash = createHash('sha256').update(k.key).digest('hex')
      ;(consumer.apiKeys as Obj[]).push({ hash, id: typeof k.id === 'string' && CONSUMER_ID.test(k.id) ? k.id : hash.slice(0, 16) })
    })
    list(report, c.jwt_secrets, `${at}.jwt_secrets`).forEach((s, n) => {
      const p = path('jwt_secrets', n)
      if (!isObj(s) || typeof s.key !== 'string' || s.key === '') { report.invalid(`${p}.key`, 'a JWT credential needs a key (the value tokens carry in their iss claim)'); return }
      checkFields(report, s, p, ['key', 'algorithm', 'secret', 'rsa_public_key', 'consumer'])
      const algorithm = typeof s.algorithm === 'string' ? s.algorithm : 'HS256'
      const secret: Obj = { key: s.key, algorithm }
      if (typeof s.id === 'string' && CONSUMER_ID.test(s.id)) secret.id = s.id
      if (algorithm.startsWith('HS')) {
        if (typeof s.secret !== 'string' || s.secret === '') { report.invalid(`${p}.secret`, `an ${algorithm} credential needs its secret in the file (Kong would generate one; the gateway cannot share it with clients)`); return }
        secret.secret = s.secret
      } else {
        if (typeof s.rsa_public_key !== 'string') { report.invalid(`${p}.rsa_public_key`, `an ${algorithm} credential needs rsa_public_key (a PEM public key)`); return }
        secret.publicKey = s.rsa_public_key
      }
      ;(consumer.jwtSecrets as Obj[]).push(secret)
    })
    list(report, c.acls, `${at}.acls`).forEach((a, n) => {
      const p = path('acls', n)
      if (!isObj(a) || typeof a.group !== 'string') { report.invalid(`${p}.group`, 'an acl needs a group'); return }
      checkFields(report, a, p, ['group', 'consumer'])
      if (!ROLE.test(a.group)) { report.invalid(`${p}.group`, `the group ${preview(a.group)} must be letters, digits and _ . : / @ - (at most 64): groups travel upstream in X-Consumer-Roles`); return }
      const roles = consumer.roles as string[]
      if (!roles.includes(a.group)) roles.push(a.group)
    })
  }
}
