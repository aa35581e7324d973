// Starts throwaway PostgreSQL and Redis servers on free loopback ports, for tests and benchmarks.
// Each returns { url, halt(), resume(), stop() } or null when the server binaries are not installed: halt() stops the
// server as an outage would, keeping its port (and PostgreSQL's data), and resume() starts it again.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, chownSync, writeFileSync } from 'node:fs';
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
  const ready = () => run('pg_isready', ['-h', '127.0.0.1', '-p', String(port)]).status === 0;
  /** Starts the server process on the cluster and port, and waits until it accepts connections. */
  const launch = async () => {
    const started = spawn(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
    let stderr = '';
    started.stderr.on('data', (d) => { stderr += d; });
    await waitFor(async () => {
      if (started.exitCode !== null) throw new Error(`postgres exited: ${stderr}`);
      return ready();
    }, 'PostgreSQL');
    return started;
  };
  /** Stops the server process and waits for it to exit (runuser does not forward signals, so ask postgres itself). */
  const shutdown = async (mode) => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    await exited;
  };
  /** Sends `signal` to the postmaster (its pid is postmaster.pid's first line) and each of its children. */
  const signalCluster = (signal) => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim() !== '');
    for (const pid of [postmaster, ...children.map(Number)]) {
      try {
        process.kill(pid, signal);
      } catch (err) {
        if (err.code !== 'ESRCH') throw err; // a backend that has just exited
      }
    }
  };
  /** Whether the process we started (runuser, or postgres itself) is stopped. */
  const childStopped = () => {
    try {
      return readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] === 'T';
    } catch {
      return false;
    }
  };
  let child = await launch();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    /** Creates a fresh database and returns its URL, so suites do not share state. */
    createDatabase(name) {
      const r = run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', `CREATE DATABASE "${name}"`]);
      if (r.status !== 0) throw new Error(`create database failed: ${r.stderr}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    /** Stops the server, keeping its data and port, as an outage would (connections are cut). */
    async halt() {
      await shutdown('fast');
    },
    /**
     * Stops the server's processes (the postmaster and its backends) with SIGSTOP, as a hung host would: connections
     * stay open and nothing answers. thaw() continues them.
     */
    freeze() {
      signalCluster('SIGSTOP');
    },
    /** runuser stops itself when it sees its child stop, and must be continued until it has seen it continue. */
    async thaw() {
      signalCluster('SIGCONT');
      for (let quiet = 0; quiet < 5; ) {
        await new Promise((r) => setTimeout(r, 50));
        if (childStopped()) {
          quiet = 0;
          process.kill(child.pid, 'SIGCONT');
        } else quiet++;
      }
    },
    /** Starts the halted server again on the same port and data. */
    async resume() {
      if (child.exitCode === null) return;
      child = await launch();
    },
    async stop() {
      await shutdown('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startRedis() {
  const bin = findOnPath('redis-server');
  if (!bin) return null;
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-redis-'));
  const port = await freePort();
  const { Socket } = await import('node:net');
  const ping = () => new Promise((resolve) => {
    const s = new Socket();
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1', () => {
      s.write('PING\r\n');
      s.once('data', (d) => { s.destroy(); resolve(String(d).includes('PONG')); });
    });
  });
  /** Starts redis-server on the port and waits until it answers. */
  const launch = async () => {
    const started = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitFor(async () => {
      if (started.exitCode !== null) throw new Error('redis-server exited');
      return ping();
    }, 'Redis');
    return started;
  };
  const shutdown = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  let child = await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    /** Stops the server, keeping its port, as an outage would (its counters are lost: it keeps no data). */
    async halt() {
      await shutdown();
    },
    /** Starts the halted server again on the same port. */
    async resume() {
      if (child.exitCode === null) return;
      child = await launch();
    },
    async stop() {
      await shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
