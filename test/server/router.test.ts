// Route patterns of the server's route table: literals, whole-number ids, a final `*`; HEAD served
// by GET routes; another method on a known path 405, an unknown path or a bad id 404.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError } from '../../src/server/http.js';
import { get, matchRoute, post, type Route } from '../../src/server/router.js';

const routes: Route[] = [
  get('/', () => ({ empty: 200 })),
  get('/api/runs/:run', () => ({ empty: 200 })),
  get('/api/runs/:run/pairs/:pair', () => ({ empty: 200 })),
  post('/api/runs/:run/score', () => ({ empty: 200 })),
  get('/files/*', () => ({ empty: 200 })),
];

const status = (method: string, path: string): number => {
  try {
    matchRoute(routes, method, path);
    return 200;
  } catch (e) {
    assert.ok(e instanceof HttpError);
    return e.status;
  }
};

test('patterns give their ids as numbers and the rest of the path decoded', () => {
  const m = matchRoute(routes, 'GET', '/api/runs/12/pairs/0');
  assert.equal(m.route.pattern, '/api/runs/:run/pairs/:pair');
  assert.deepEqual(m.params, { run: 12, pair: 0 });
  assert.equal(matchRoute(routes, 'HEAD', '/api/runs/3').route.pattern, '/api/runs/:run');
  assert.equal(matchRoute(routes, 'POST', '/api/runs/3/score').route.method, 'POST');
  assert.equal(matchRoute(routes, 'GET', '/files/a%20b/c.svg').rest, 'a b/c.svg');
  assert.equal(matchRoute(routes, 'GET', '/').route.pattern, '/');
});

test('bad ids and unknown paths are 404, another method on a known path 405', () => {
  for (const p of ['/api/runs/abc', '/api/runs/-1', '/api/runs/1e3', '/api/runs/1234567890123456', '/api/runs/1/pairs', '/api/runs/1/extra', '/api/runs/%31%zz', '/nothing', '/api/runs/1%2Fpairs%2F2', '/files%2Fx']) {
    assert.equal(status('GET', p), 404, p);
  }
  assert.equal(status('GET', '/api/runs/%31'), 200, 'an escaped digit is still a digit');
  assert.equal(status('POST', '/api/runs/1'), 405);
  assert.equal(status('GET', '/api/runs/1/score'), 405);
  assert.equal(status('DELETE', '/'), 405);
  assert.equal(status('GET', '/files/%zz'), 404, 'malformed escapes match nothing');
});
