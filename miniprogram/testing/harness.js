/**
 * Test harness: a real `wxlogin serve --dev` process, and a simulated `wx`
 * object whose request and uploadFile make real HTTP calls to it.
 *
 * The server binary is $WXLOGIN_BIN, or ../target/debug/wxlogin (built with
 * `cargo build` when missing).
 */
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Environment variables of wxlogin's settings, never inherited by the test server. */
const SETTINGS_VARS = [
  'WXLOGIN_BIND',
  'DATABASE_URL',
  'WECHAT_APPID',
  'WECHAT_SECRET',
  'WECHAT_API_BASE',
  'WECHAT_TIMEOUT',
  'WXLOGIN_SESSION_TTL',
  'WXLOGIN_DEV',
  'WXLOGIN_WORKERS',
  'WXLOGIN_DB_POOL_SIZE',
  'WXLOGIN_DB_TIMEOUT',
  'WXLOGIN_DATA_DIR',
  'WXLOGIN_PUBLIC_URL',
  'WXLOGIN_CONTENT_CHECK',
  'WXLOGIN_IMAGE_CHECK_WAIT',
  'WXLOGIN_RISK_CHECK',
  'WXLOGIN_RISK_REFUSE_AT',
  'WECHAT_PUSH_TOKEN',
  'WECHAT_PUSH_AES_KEY',
];

function serverBinary() {
  if (process.env.WXLOGIN_BIN) return path.resolve(process.env.WXLOGIN_BIN);
  const targetDir = path.join(REPO_ROOT, 'target');
  const bin = path.join(targetDir, 'debug', process.platform === 'win32' ? 'wxlogin.exe' : 'wxlogin');
  if (!fs.existsSync(bin)) {
    const built = spawnSync('cargo', ['build', '--bin', 'wxlogin'], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
      env: Object.assign({}, process.env, { CARGO_TARGET_DIR: targetDir }),
    });
    if (built.status !== 0) {
      throw new Error(`cargo build failed (${built.error || `status ${built.status}`}); or set WXLOGIN_BIN`);
    }
  }
  return bin;
}

/**
 * Starts `wxlogin serve --dev` on a free port, in a fresh temporary
 * directory that holds its database and data directory.
 */
function startServer() {
  const bin = serverBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxlogin-miniprogram-'));
  const env = Object.assign({}, process.env, { RUST_LOG: 'info' });
  for (const v of SETTINGS_VARS) delete env[v];
  const child = spawn(
    bin,
    [
      'serve',
      '--dev',
      '--bind',
      '127.0.0.1:0',
      '--database-url',
      `sqlite://${path.join(dir, 'wxlogin.db')}`,
      '--data-dir',
      path.join(dir, 'data'),
    ],
    { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  const stop = () =>
    new Promise((resolve) => {
      const done = () => {
        fs.rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wxlogin did not start within 30 s:\n${log}`));
    }, 30000);
    let started = false;
    child.stderr.setEncoding('utf8');
    // Keeps draining stderr for the server's whole life, so it never blocks on a full pipe.
    child.stderr.on('data', (chunk) => {
      log += chunk;
      if (log.length > 1 << 20) log = log.slice(-(1 << 19));
      const m = !started && /address=(\d+\.\d+\.\d+\.\d+:\d+)/.exec(log);
      if (m) {
        started = true;
        clearTimeout(timer);
        resolve({ baseUrl: `http://${m[1]}`, dir, stop, log: () => log });
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      if (!started) {
        clearTimeout(timer);
        reject(new Error(`wxlogin exited (${code ?? signal}) before listening:\n${log}`));
      }
    });
  });
}

/**
 * A simulated `wx`: `login` hands out dev-simulator codes for one fake user
 * (after the `codes` given, if any, one per call),
 * `request` and `uploadFile` make real HTTP calls, storage is in memory.
 * `calls` counts what the client did.
 */
function createWx({ user = 'demo-1', loginDelayMs = 20, appid = null, codes = [] } = {}) {
  const firstCodes = [...codes];
  const storage = new Map();
  const calls = { login: 0, codes: [], requests: [], uploadFile: 0, bodies: [] };
  let n = 0;
  const account = appid ? { getAccountInfoSync: () => ({ miniProgram: { appId: appid } }) } : {};
  return {
    ...account,
    calls,
    storage,
    login({ success }) {
      calls.login += 1;
      n += 1;
      // The simulator logs in `user` for `user-N`, whatever N is.
      const code = firstCodes.length ? firstCodes.shift() : `${user}-${n}`;
      calls.codes.push(code);
      setTimeout(() => success({ code, errMsg: 'login:ok' }), loginDelayMs);
    },
    request({ url, method = 'GET', data, header = {}, dataType = 'json', success, fail }) {
      const target = new URL(url);
      calls.requests.push(`${method} ${target.pathname}`);
      calls.bodies.push(data);
      let body;
      if (data !== undefined && data !== null) {
        if (method === 'GET') {
          for (const [k, v] of Object.entries(data)) target.searchParams.set(k, String(v));
        } else {
          body = typeof data === 'string' ? data : JSON.stringify(data);
        }
      }
      fetch(target, { method, headers: header, body }).then(
        async (res) => {
          const text = await res.text();
          let parsed = text;
          if (dataType === 'json') {
            try {
              parsed = JSON.parse(text);
            } catch (e) {
              // wx also hands back text that is not JSON as it is.
            }
          }
          success({ statusCode: res.status, data: parsed, header: Object.fromEntries(res.headers), errMsg: 'request:ok' });
        },
        (err) => fail({ errMsg: `request:fail ${err.message}` }),
      );
    },
    uploadFile({ url, filePath, name, header = {}, formData = {}, success, fail }) {
      calls.uploadFile += 1;
      calls.requests.push(`UPLOAD ${new URL(url).pathname}`);
      let bytes;
      try {
        bytes = fs.readFileSync(filePath);
      } catch (err) {
        setImmediate(() => fail({ errMsg: `uploadFile:fail ${err.message}` }));
        return;
      }
      const form = new FormData();
      for (const [k, v] of Object.entries(formData)) form.append(k, String(v));
      form.append(name, new Blob([bytes]), path.basename(filePath));
      fetch(url, { method: 'POST', headers: header, body: form }).then(
        async (res) => success({ statusCode: res.status, data: await res.text(), errMsg: 'uploadFile:ok' }),
        (err) => fail({ errMsg: `uploadFile:fail ${err.message}` }),
      );
    },
    setStorageSync(key, value) {
      storage.set(key, JSON.parse(JSON.stringify(value)));
    },
    getStorageSync(key) {
      return storage.has(key) ? storage.get(key) : '';
    },
    removeStorageSync(key) {
      storage.delete(key);
    },
  };
}

/** The first dev app of the simulator: the one of logins that name none. */
const DEV_APPID = 'wx0000000000000dev';

/**
 * The session_key that the dev-mode simulator gives for a login code, as
 * the README documents it: base64(sha256("wxlogin-simulator/session_key/APPID/CODE")[..16]).
 */
function simulatorSessionKey(code, appid = DEV_APPID) {
  const digest = crypto.createHash('sha256').update(`wxlogin-simulator/session_key/${appid}/${code}`).digest();
  return digest.subarray(0, 16).toString('base64');
}

/**
 * User data as WeChat would hand it to the mini-program after the
 * `wx.login()` that gave `code`: `info` (with `openId` and the watermark of
 * `appid` added) encrypted with that code's session_key, and signed.
 */
function simulatorUserData(code, openId, info, appid = DEV_APPID) {
  const sessionKey = simulatorSessionKey(code, appid);
  const rawData = JSON.stringify(info);
  const plain = JSON.stringify({ ...info, openId, watermark: { appid, timestamp: Math.floor(Date.now() / 1000) } });
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv);
  const encryptedData = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');
  const signature = crypto.createHash('sha1').update(rawData + sessionKey).digest('hex');
  return { rawData, signature, encryptedData, iv: iv.toString('base64') };
}

module.exports = { startServer, createWx, serverBinary, simulatorSessionKey, simulatorUserData };
