// /docs in a real (headless) Chromium with the network cut off: every request that is not
// to the gateway is aborted and counted, the page must still render the operations from
// /openapi.json, and "Try it out" must reach the gateway. Skips where Chromium is missing.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Request } from 'playwright-core'
import { startGateway, call } from '../helpers.js'
import { loadSpec } from '../../plugins/openapi/spec.js'

const CHROMIUM = '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM}: apt-get install chromium`
const TIMEOUT = 15_000
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']
// a name the browser resolves to 127.0.0.1 (--host-resolver-rules) but does not treat as
// loopback: how a browser sees a gateway reached as http://gateway:8000 on a network
const NAMED_HOST = 'gateway.test'

/** the paths of the document that have at least one operation (a local $ref path item resolved) */
function operationPaths (): string[] {
  const document = loadSpec().document
  const resolve = (item: any): any => {
    const ref = item?.$ref
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return item
    return ref.slice(2).split('/').reduce((node: any, key: string) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], document)
  }
  return Object.entries(document.paths ?? {})
    .filter(([, item]) => METHODS.some((m) => resolve(item)?.[m] !== undefined))
    .map(([path]) => path)
}

/**
 * Opens `pageUrl` with every request to another host than 127.0.0.1 (or the page's own
 * host, mapped to 127.0.0.1) aborted, checks that the operations render and that
 * "Try it out" on GET /health reaches the gateway, and that nothing else was asked for.
 */
async function checkDocs (t: Test, browser: Browser, pageUrl: string): Promise<void> {
  const origin = new URL(pageUrl).origin
  const pageHost = new URL(pageUrl).hostname
  const context = await browser.newContext()
  t.teardown(() => context.close())
  context.setDefaultTimeout(TIMEOUT)
  context.setDefaultNavigationTimeout(TIMEOUT)

  const blocked: string[] = []
  const requested: string[] = []
  const problems: string[] = []
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url())
    if (url.hostname === '127.0.0.1' || url.hostname === pageHost) return route.continue()
    blocked.push(url.href)
    return route.abort('internetdisconnected')
  })
  const page = await context.newPage()
  page.on('request', (request: Request) => { requested.push(request.url()) })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('console', (message) => {
    // Chrome's note that COOP (from helmet) needs HTTPS or localhost: about the origin, not the page
    if (message.type() === 'error' && !message.text().includes('Cross-Origin-Opener-Policy header has been ignored')) problems.push(`console: ${message.text()}`)
  })

  const response = await page.goto(pageUrl, { waitUntil: 'load' })
  t.equal(response?.status(), 200)
  await page.locator('.opblock').first().waitFor({ state: 'visible' })
  const health = page.locator('.opblock [data-path="/health"]').first()
  await health.waitFor({ state: 'visible' })
  t.ok(await health.isVisible(), 'the /health operation is listed')

  const rendered = new Set(await page.locator('.opblock [data-path]').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-path'))))
  for (const path of operationPaths()) t.ok(rendered.has(path), `${path} is rendered`)
  t.equal(await page.locator('.errors-wrapper').count(), 0, 'Swagger UI reports no errors in the document')

  // "Try it out" on /health: the servers entry points at this gateway, and the CSP lets the call through
  const op = page.locator('.opblock-get:has([data-path="/health"])').first()
  await op.locator('.opblock-summary').first().click()
  await op.locator('.try-out__btn').click()
  await op.locator('.execute').click()
  const status = op.locator('.live-responses-table tbody .response-col_status').first()
  await status.waitFor({ state: 'visible' })
  t.match(await status.innerText(), /^\s*200/, 'Try it out: GET /health answered 200')

  const fetched = requested.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:'))
  t.same(blocked, [], 'no request left the machine')
  t.same(fetched.filter((u) => new URL(u).origin !== origin), [], `every request went to ${origin}`)
  t.ok(fetched.includes(`${origin}/openapi.json`), 'the document came from /openapi.json')
  t.notOk(fetched.some((u) => new URL(u).pathname === '/docs/json'), 'not from /docs/json')
  t.ok(fetched.includes(`${origin}/health`), 'the Try it out request went to this gateway')
  t.same(problems, [], 'no page errors, no console errors (a CSP violation or a failed load would be one)')
}

t.test('/docs in headless Chromium, offline', { skip, timeout: 90_000 }, async (t) => {
  let browser: Browser | undefined
  t.teardown(async () => { await browser?.close() })
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', `--host-resolver-rules=MAP ${NAMED_HOST} 127.0.0.1`],
    timeout: TIMEOUT
  })

  t.test('at 127.0.0.1', async (t) => {
    const gw = await startGateway(t)
    await checkDocs(t, browser!, `${gw.url}/docs`)
  })

  // Chromium treats 127.0.0.1 specially twice over: it does not apply the CSP's
  // upgrade-insecure-requests to it, and Swagger UI shows no validator badge for it.
  // Under a plain host name both would show (assets fetched over https; an image from
  // validator.swagger.io), so this is the realistic case.
  t.test(`over plain HTTP at a host name (${NAMED_HOST})`, async (t) => {
    const gw = await startGateway(t)
    const pageUrl = `http://${NAMED_HOST}:${new URL(gw.url).port}/docs`
    const csp = (await call(`${gw.url}/docs`)).headers['content-security-policy']
    t.notMatch(csp, /upgrade-insecure-requests/, 'a plain-HTTP /docs does not ask for https assets')
    t.match((await call(`${gw.url}/health`)).headers['content-security-policy'], /upgrade-insecure-requests/, 'other endpoints keep the full policy')
    await checkDocs(t, browser!, pageUrl)
  })
})
