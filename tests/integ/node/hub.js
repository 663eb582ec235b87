'use strict';
// Starts the real wshub binary for the Node integration tests on 127.0.0.1 with
// an OS-assigned port and stops it by PID; not a client (see clients.js).
//
// Mirrors tests/support/hubproc.py: stderr goes to a temp file (a chatty hub can
// never block on a full pipe), readiness is the log line
// `listening addr=127.0.0.1:PORT`, and every deadline scales x5 when
// WSHUB_SANITIZE says the binary runs under ASan.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: delay } = require('node:timers/promises');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LISTEN_RE = /listening addr=127\.0\.0\.1:(\d+)/;

function hubBinary() {
  return process.env.WSHUB_BIN || path.join(ROOT, 'build', 'wshub');
}

function timeoutScale() {
  const v = (process.env.WSHUB_SANITIZE || '').toLowerCase();
  return ['1', 'on', 'true'].includes(v) ? 5 : 1;
}

/** A deadline in milliseconds, stretched for sanitizer builds. */
function scaled(ms) {
  return ms * timeoutScale();
}

const live = new Set();
// Last resort if a test crashes the runner: no hub outlives this process.
process.on('exit', () => {
  for (const h of live) {
    try { process.kill(h.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

class Hub {
  // opts.listen: the address to bind (default 127.0.0.1:0, an OS-assigned
  // port); a test that restarts a hub on the port it had passes
  // `127.0.0.1:${old.port}`, so clients see the same origin come back.
  constructor(args = [], env = {}, opts = {}) {
    this.args = args;
    this.env = { ...process.env, ...env };
    this.listen = opts.listen || '127.0.0.1:0';
    this.expectRunning = true; // teardown checks the hub is alive and exits 0
  }

  async start(deadlineMs = 10000) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-node-'));
    this.logPath = path.join(this.dir, 'hub.log');
    const fd = fs.openSync(this.logPath, 'w');
    this.proc = spawn(hubBinary(), ['serve', '--listen', this.listen, ...this.args], {
      stdio: ['ignore', 'ignore', fd],
      env: this.env,
    });
    fs.closeSync(fd);
    this.pid = this.proc.pid;
    this.exit = null;
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
    });
    live.add(this);
    const end = Date.now() + scaled(deadlineMs);
    while (Date.now() < end) {
      const m = LISTEN_RE.exec(this.log());
      if (m) {
        this.port = Number(m[1]);
        return this;
      }
      if (this.exit) throw new Error(`wshub exited ${JSON.stringify(this.exit)}:\n${this.log()}`);
      await delay(10); // polling the log file for the readiness event
    }
    this.kill();
    throw new Error(`wshub did not report listening:\n${this.log()}`);
  }

  url(p = '/ws') {
    return `ws://127.0.0.1:${this.port}${p}`;
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  get running() {
    return this.proc && this.exit === null;
  }

  signal(sig) {
    process.kill(this.pid, sig);
  }

  /** Resolves to {code, signal} once the hub exits; rejects after ms (scaled). */
  async waitExit(ms = 10000) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `wshub still running ${scaled(ms)}ms later:\n${this.log()}`)), scaled(ms));
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM by PID, wait; returns the exit code. Kills on timeout. */
  async stop(ms = 10000) {
    if (!this.running) return this.exit ? this.exit.code : null;
    this.signal('SIGTERM');
    try {
      return (await this.waitExit(ms)).code;
    } catch (e) {
      this.kill();
      throw e;
    }
  }

  kill() {
    if (this.running) {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }

  /** Teardown: the hub must still be running (no crash) and exit 0 on SIGTERM. */
  async finish() {
    try {
      if (!this.expectRunning || !this.proc) return;
      if (!this.running) {
        throw new Error(`wshub ${this.args.join(' ')} died during the test ` +
          `(${JSON.stringify(this.exit)}):\n${this.log()}`);
      }
      const code = await this.stop();
      if (code !== 0) throw new Error(`wshub exited ${code} on SIGTERM:\n${this.log()}`);
    } finally {
      this.kill();
      if (this.running) await this.exited;
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * Starts a hub for test context `t` and registers its teardown as an after-hook
 * of that test, so every test proves the hub survived and exits cleanly.
 */
async function startHub(t, args = [], env = {}) {
  const h = new Hub(args, env);
  t.after(() => h.finish());
  return h.start();
}

module.exports = { Hub, startHub, scaled, timeoutScale, hubBinary };
