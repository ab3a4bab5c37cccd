// The pure resolver: order, conflicts, default, malformed and unknown versions.
import t from 'tap'
import { acceptVersionToken, checkToken, pathVersionToken, resolveVersion, type VersionPolicy } from '../../plugins/versioning/resolve.js'

const policy: VersionPolicy = { versions: [1, 2], defaultVersion: 1 }
const vendor = (v: string) => `application/vnd.healthpay.${v}+json`

t.test('each source alone', async (t) => {
  t.same(resolveVersion({ pathToken: '2' }, policy), { ok: true, version: 2, source: 'path' })
  t.same(resolveVersion({ header: '2' }, policy), { ok: true, version: 2, source: 'header' })
  t.same(resolveVersion({ header: 'v2' }, policy), { ok: true, version: 2, source: 'header' }, 'a "v" prefix is allowed')
  t.same(resolveVersion({ header: 'V2' }, policy), { ok: true, version: 2, source: 'header' })
  t.same(resolveVersion({ accept: vendor('v2') }, policy), { ok: true, version: 2, source: 'accept' })
  t.same(resolveVersion({}, policy), { ok: true, version: 1, source: 'default' })
  t.same(resolveVersion({}, { versions: [1, 2, 3], defaultVersion: 3 }), { ok: true, version: 3, source: 'default' })
})

t.test('order: path, then X-API-Version, then Accept, then the default; the first present decides alone', async (t) => {
  t.same(resolveVersion({ pathToken: '1', header: '2', accept: vendor('v2') }, policy), { ok: true, version: 1, source: 'path' }, 'path wins over a conflicting header')
  t.same(resolveVersion({ pathToken: '1', header: 'abc' }, policy), { ok: true, version: 1, source: 'path' }, 'with a path version the header is not even read')
  t.same(resolveVersion({ header: '1', accept: vendor('v2') }, policy), { ok: true, version: 1, source: 'header' }, 'header wins over Accept')
  t.same(resolveVersion({ header: '3', accept: vendor('v2') }, policy), { ok: false, source: 'header', reason: 'unsupported', given: '3' }, 'a bad header is not rescued by Accept')
  t.same(resolveVersion({ accept: 'application/json' }, policy), { ok: true, version: 1, source: 'default' }, 'an Accept without the vendor type falls through')
  t.same(resolveVersion({ accept: 'application/vnd.healthpay+json' }, policy), { ok: true, version: 1, source: 'default' }, 'the vendor type without a version falls through')
})

t.test('malformed and unknown versions', async (t) => {
  for (const bad of ['abc', '1.0', '2.1', 'v', 'vv2', '-1', '1, 2', '', ' ', 'v2 ', '２']) {
    t.same(checkToken(bad, policy, 'header'), { ok: false, source: 'header', reason: 'malformed', given: bad }, `malformed: ${JSON.stringify(bad)}`)
  }
  for (const [given, digits] of [['v0', '0'], ['0', '0'], ['3', '3'], ['01', '01'], ['v002', '002'], ['99999999999', '99999999999'], ['1000', '1000']]) {
    t.same(checkToken(given!, policy, 'header'), { ok: false, source: 'header', reason: 'unsupported', given: digits }, `unsupported: ${given}`)
  }
  t.same(resolveVersion({ header: 'abc' }, policy), { ok: false, source: 'header', reason: 'malformed', given: 'abc' })
  t.same(resolveVersion({ accept: vendor('vX') }, policy), { ok: false, source: 'accept', reason: 'malformed', given: 'vX' })
  t.same(resolveVersion({ accept: vendor('v9') }, policy), { ok: false, source: 'accept', reason: 'unsupported', given: '9' })
  t.same(resolveVersion({ pathToken: '0' }, policy), { ok: false, source: 'path', reason: 'unsupported', given: '0' })
  t.same(resolveVersion({ header: ' 2 ' }, policy), { ok: true, version: 2, source: 'header' }, 'surrounding blanks are not part of the value')
})

t.test('path version tokens', async (t) => {
  t.equal(pathVersionToken('/v2/api/wallets'), '2')
  t.equal(pathVersionToken('/V2/api'), '2')
  t.equal(pathVersionToken('/v12'), '12')
  t.equal(pathVersionToken('/v1?x=1'), '1')
  t.equal(pathVersionToken('/v0/api'), '0', 'a version number, if not a supported one')
  for (const unversioned of ['/api/wallets', '/vendor/x', '/v2x/api', '/v/api', '/', '/v', '/xv1/a', '*']) {
    t.equal(pathVersionToken(unversioned), undefined, `${unversioned} has no version segment`)
  }
})

t.test('Accept: the most preferred vendor range, by q then by order; q=0 never selects', async (t) => {
  t.equal(acceptVersionToken(vendor('v2')), 'v2')
  t.equal(acceptVersionToken('APPLICATION/VND.HEALTHPAY.V2+JSON'), 'V2', 'media types are case-insensitive')
  t.equal(acceptVersionToken(`application/json, ${vendor('v2')};q=0.9`), 'v2')
  t.equal(acceptVersionToken(`${vendor('v1')};q=0.5, ${vendor('v2')}`), 'v2', 'higher q wins')
  t.equal(acceptVersionToken(`${vendor('v1')}, ${vendor('v2')}`), 'v1', 'the first listed among equals')
  t.equal(acceptVersionToken(`${vendor('v2')};q=0, ${vendor('v1')};q=0.1`), 'v1', 'q=0 is "not acceptable"')
  t.equal(acceptVersionToken(`${vendor('v2')};q=0`), undefined)
  t.equal(acceptVersionToken(`${vendor('v2')}; charset=utf-8; q=0.8`), 'v2', 'other parameters are ignored')
  t.equal(acceptVersionToken('application/vnd.healthpay.wallet+json'), undefined, 'another HealthPay vendor type is not a version')
  t.equal(acceptVersionToken('application/vnd.healthpay.2+json'), '2', 'a suffix starting with a digit is read as a version (then checked)')
  t.same(resolveVersion({ accept: 'application/vnd.healthpay.2.1+json' }, policy), { ok: false, source: 'accept', reason: 'malformed', given: '2.1' })
  t.equal(acceptVersionToken('*/*'), undefined)
})
