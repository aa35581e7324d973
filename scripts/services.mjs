// Starts throwaway PostgreSQL and Redis servers on free loopback ports, for tests and benchmarks.
// Each returns { url, stop() } or null when the server binaries are not installed.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function findPostgresBin() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb'))) return bin;
  }
  return null;
}

function findOnPath(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

async function waitFor(check, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** initdb refuses to run as root, so as root the cluster belongs to the `postgres` user. */
function asPostgresUser() {
  return process.getuid && process.getuid() === 0;
}

export async function startPostgres() {
  const bin = findPostgresBin();
  if (!bin) return null;
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const runAs = asPostgresUser() ? ['runuser', '-u', 'postgres', '--'] : [];
  if (runAs.length) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
  const run = (cmd, args, opts = {}) => {
    const full = [...runAs, join(bin, cmd), ...args];
    return spawnSync(full[0], full.slice(1), { encoding: 'utf8', ...opts });
  };
  const init = run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-N']);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const full = [...runAs, join(bin, 'postgres'), '-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir,
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'];
  const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const ready = () => run('pg_isready', ['-h', '127.0.0.1', '-p', String(port)]).status === 0;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`postgres exited: ${stderr}`);
    return ready();
  }, 'PostgreSQL');
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    /** Creates a fresh database and returns its URL, so suites do not share state. */
    createDatabase(name) {
      const r = run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', `CREATE DATABASE "${name}"`]);
      if (r.status !== 0) throw new Error(`create database failed: ${r.stderr}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      // runuser does not forward signals to postgres, so ask postgres itself to stop.
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startRedis() {
  const bin = findOnPath('redis-server');
  if (!bin) return null;
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-redis-'));
  const port = await freePort();
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const { Socket } = await import('node:net');
  const ping = () => new Promise((resolve) => {
    const s = new Socket();
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1', () => {
      s.write('PING\r\n');
      s.once('data', (d) => { s.destroy(); resolve(String(d).includes('PONG')); });
    });
  });
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error('redis-server exited');
    return ping();
  }, 'Redis');
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
