// The cheapest upstream we can write in Node: a fixed small JSON answer, keep-alive.
import http from 'node:http'

const body = JSON.stringify({ id: 'w-bench', ownerId: 'u-bench', currency: 'EGP', balance: 100.5, status: 'active' })
const server = http.createServer((req, res) => {
  if (req.method !== 'GET') req.resume()
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
