// What may appear in logs and config errors: credentials never.
import t from 'tap'
import { redactUrl } from '../../src/logging.js'
import { configProblems } from '../helpers.js'
import { resolveConfig } from '../../src/config/index.js'

t.test('redactUrl: credential-looking parameters are redacted, others kept', async (t) => {
  t.equal(redactUrl('/v1/api/w1'), '/v1/api/w1')
  t.equal(redactUrl('/v1/api/w1?page=2&sort=asc'), '/v1/api/w1?page=2&sort=asc')
  t.equal(redactUrl('/ws?token=abc&channel=wallet'), '/ws?token=[redacted]&channel=wallet')
  for (const name of ['access_token', 'refresh_token', 'id_token', 'jwt', 'api_key', 'apiKey', 'x-api-key', 'key', 'secret', 'password', 'client_secret', 'sig', 'X-Amz-Signature', 'session', 'code', '%74oken']) {
    t.equal(redactUrl(`/p?a=1&${name}=s3cr3t`), `/p?a=1&${name}=[redacted]`, name)
  }
  t.equal(redactUrl('/p;jsessionid=s3cr3t'), '/p;jsessionid=[redacted]', 'matrix parameters too')
})

t.test('config errors never print secrets, even given at the wrong level or inside a URL', async (t) => {
  const message = (input: unknown) => { try { resolveConfig(input); return '' } catch (err) { return (err as Error).message } }
  const raw = 'hpk_raw-key-pasted-by-mistake-0123456789'
  for (const input of [
    { consumers: [{ id: 'c', apiKeys: [raw] }] },
    { consumers: [{ id: 'c', apiKeys: raw }] },
    { consumers: raw },
    { jwt: raw },
    { jwt: { secret: raw.slice(0, 20) } },
    { server: raw },
    { server: { adminToken: raw.slice(0, 10) } }
  ]) {
    const text = message(input)
    t.match(text, /Invalid configuration/, JSON.stringify(input).slice(0, 60))
    t.notOk(text.includes(raw.slice(0, 10)), 'the value is not printed')
  }
  const [problem] = configProblems({ REDIS_URL: 'redis//:p4ssw0rd@cache:6379' })
  t.match(problem, /^REDIS_URL="redis\/\/\[redacted\]@cache:6379": expected a redis:\/\//)
  t.notOk(problem!.includes('p4ssw0rd'))
})
